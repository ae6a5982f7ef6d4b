"""The Lua scripts that keep the audit chain, its state and its indexes in one atomic step.

Redis Lua has no SHA-256, so the client computes each hash and APPEND_LUA commits it only if the
chain head is still the one the client built on (optimistic concurrency); on a conflict it returns
the new head and the client rebuilds and retries. The same script updates the per-interaction state
and the indexes, so they can never disagree with the stream. The others serve retention.
"""

from __future__ import annotations

from app.audit.chain import GENESIS_HASH

# KEYS: stream, head, state, by-interaction, by-user, by-channel, then any awaiting-approver keys
# ARGV: 1 expected prev hash, 2 expected prev seq, 3 new hash, 4 json, 5 new seq,
#       6 interaction id, 7 at, 8 at in ms, 9 has-user, 10 has-channel, 11 event name,
#       12 latest-wins state fields (JSON object), 13 first-wins state fields (JSON object).
# State fields travel as two small JSON objects because packing dozens of arguments was the
# largest client-side cost of an append.
# The stream id takes its time from `at` (never going below the last id, should a writer's clock
# lag), so time-bounded reads and retention can use the stream id and agree with `at`.
APPEND_LUA = f"""
local head = redis.call('HMGET', KEYS[2], 'hash', 'seq', 'stream_id')
local cur_hash = head[1] or '{GENESIS_HASH}'
local cur_seq = head[2] or '0'
if cur_hash ~= ARGV[1] or cur_seq ~= ARGV[2] then
  return {{0, cur_hash, cur_seq}}
end
local ms = ARGV[8]
if head[3] then
  local top = string.match(head[3], '^(%d+)')
  if tonumber(top) > tonumber(ms) then ms = top end
end
local sid = redis.call('XADD', KEYS[1], ms .. '-*', 'id', ARGV[5], 'iid', ARGV[6], 'json', ARGV[4])
redis.call('HSET', KEYS[2], 'hash', ARGV[3], 'seq', ARGV[5], 'stream_id', sid)
redis.call('ZADD', KEYS[4], tonumber(ARGV[5]), sid)
if ARGV[9] == '1' then redis.call('ZADD', KEYS[5], ms, sid) end
if ARGV[10] == '1' then redis.call('ZADD', KEYS[6], ms, sid) end
for i = 7, #KEYS do redis.call('ZADD', KEYS[i], ms, ARGV[6]) end
redis.call('HSETNX', KEYS[3], 'created_at', ARGV[7])
redis.call('HSET', KEYS[3], 'updated_at', ARGV[7], 'event', ARGV[11], 'last_event_id', ARGV[5],
           'interaction_id', ARGV[6])
for k, v in pairs(cjson.decode(ARGV[12])) do redis.call('HSET', KEYS[3], k, v) end
for k, v in pairs(cjson.decode(ARGV[13])) do redis.call('HSETNX', KEYS[3], k, v) end
return {{1, sid}}
"""

# KEYS: lock, anchor, stream. ARGV: token, min id to keep, anchor field/value pairs.
# Checks the lock is still ours so a run that outlived its lock never trims.
TRIM_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
return redis.call('XTRIM', KEYS[3], 'MINID', ARGV[2])
"""

# KEYS: lock. ARGV: token. Releases the lock only if this run still holds it.
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Prunes one index after a trim. KEYS: index zset, state hash (only for kind 'i').
# ARGV: kind ('i' by sequence, else by stream id), last archived seq, its stream id ms, its seq part
PRUNE_LUA = """
if ARGV[1] == 'i' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
  if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
  return 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3])) do
  local part = tonumber(string.match(sid, '-(%d+)$'))
  if part <= tonumber(ARGV[4]) then redis.call('ZREM', KEYS[1], sid) end
end
return 1
"""
