"""The Lua scripts that keep the audit chain, its state, its indexes and its running totals in
one atomic step.

APPEND_LUA is the whole append: it reads the chain head, hashes the link line (`app.audit.chain`:
the writer sent its body's SHA-256), stores the event, adds its hash as the next leaf of the
Merkle tree (`app.audit.lua_merkle`), moves the head, and updates the per-interaction state, the
indexes and the usage totals (`app.audit.totals`), so none of them can ever disagree with the
stream. There is nothing to retry: writers in any number of
processes each make one call, and Redis runs the calls one after another. The others serve
retention.
"""

from __future__ import annotations

from app.audit.chain import GENESIS_HASH
from app.audit.lua_merkle import MERKLE_LUA
from app.audit.lua_sha256 import SHA256_LUA

LISTED = 10  # rejections and low-confidence outputs kept for the usage views (the newest)
TOTALS_TTL = 400 * 86400  # seconds the totals outlive their hour's start (> a 365-day window)

# KEYS: 1 stream, 2 head, 3 state, 4 by-interaction, 5 by-user, 6 by-channel, 7 usage hour,
#       8 usage day, 9 usage open, 10 usage rejections, 11 usage low, 12 Merkle tree base,
#       then any awaiting keys
# ARGV: 1 body SHA-256 (32 bytes), 2-5 stored-JSON template (`chain.for_script`),
#       6 interaction id, 7 at, 8 at in ms, 9 event name, 10 a JSON array: has-user (1/0),
#       has-channel, latest-wins state fields {}, first-wins state fields {}, totals
#       increments {}, approval status or '', rejection record or '', low-confidence record or ''
# The small fields travel as one JSON array because packing each argument costs the client
# more than decoding them costs the script.
# The stream id takes its time from `at` (never going below the last id, should a writer's clock
# lag), so time-bounded reads and retention can use the stream id and agree with `at`.
# The head's `tree` is the Merkle tree's size: it grows with `seq` from the first event on. A log
# begun before the tree has a head without it, and its appends leave the tree alone.
# Time to decision: the interaction's first `approval_requested` leaves `asked_ms` in its state;
# its decision counts the elapsed ms in the decision's hour and day (`d:<ms>`) and clears it.
APPEND_LUA = (
    SHA256_LUA
    + MERKLE_LUA
    + f"""
local small = cjson.decode(ARGV[10])
local head = redis.call('HMGET', KEYS[2], 'hash', 'seq', 'stream_id', 'tree')
local prev = head[1] or '{GENESIS_HASH}'
local count = tonumber(head[2] or '0')
local seq = string.format('%d', count + 1)
local hash, raw = sha256_both(prev .. ':' .. seq .. ':' .. ARGV[1])
local json = ARGV[2] .. hash .. ARGV[3] .. seq .. ARGV[4] .. prev .. ARGV[5]
local ms = ARGV[8]
if head[3] then
  local top = string.match(head[3], '^(%d+)')
  if tonumber(top) > tonumber(ms) then ms = top end
end
local sid = redis.call('XADD', KEYS[1], ms .. '-*', 'id', seq, 'iid', ARGV[6], 'json', json)
if (head[4] and tonumber(head[4]) == count) or count == 0 then
  merkle_add(KEYS[12], count, raw)
  redis.call('HSET', KEYS[2], 'hash', hash, 'seq', seq, 'stream_id', sid, 'tree', seq)
else
  redis.call('HSET', KEYS[2], 'hash', hash, 'seq', seq, 'stream_id', sid)
end
redis.call('ZADD', KEYS[4], tonumber(seq), sid)
if small[1] == 1 then redis.call('ZADD', KEYS[5], ms, sid) end
if small[2] == 1 then redis.call('ZADD', KEYS[6], ms, sid) end
for i = 13, #KEYS do redis.call('ZADD', KEYS[i], ms, ARGV[6]) end
redis.call('HSETNX', KEYS[3], 'created_at', ARGV[7])
local latest = {{'updated_at', ARGV[7], 'event', ARGV[9], 'last_event_id', seq,
                'interaction_id', ARGV[6]}}
for k, v in pairs(small[3]) do latest[#latest + 1] = k; latest[#latest + 1] = v end
redis.call('HSET', KEYS[3], unpack(latest))
for k, v in pairs(small[4]) do redis.call('HSETNX', KEYS[3], k, v) end
local fresh = false
for k, v in pairs(small[5]) do
  if redis.call('HINCRBY', KEYS[7], k, v) == v and k == 'events' then fresh = true end
  redis.call('HINCRBY', KEYS[8], k, v)
end
local event, status = ARGV[9], small[6]
local decision = event == 'approved' or event == 'rejected'
if event == 'approval_requested' then redis.call('HSETNX', KEYS[3], 'asked_ms', ARGV[8]) end
if decision then
  local asked = redis.call('HGET', KEYS[3], 'asked_ms')
  if asked then
    local took = math.max(0, tonumber(ARGV[8]) - tonumber(asked))
    if took >= 1000 then  -- three significant digits, half up (totals.three_digits)
      local step = 10 ^ (#string.format('%d', took) - 3)
      took = math.floor((took + step / 2) / step) * step
    end
    local field = 'd:' .. string.format('%d', took)
    redis.call('HINCRBY', KEYS[7], field, 1)
    redis.call('HINCRBY', KEYS[8], field, 1)
    redis.call('HDEL', KEYS[3], 'asked_ms')
  end
end
if status == 'pending' or status == 'escalated' then
  redis.call('ZADD', KEYS[9], ARGV[8], ARGV[6])
elseif status ~= '' then
  redis.call('ZREM', KEYS[9], ARGV[6])
  if not decision then redis.call('HDEL', KEYS[3], 'asked_ms') end
end
if small[7] ~= '' then
  redis.call('LPUSH', KEYS[10], small[7])
  redis.call('LTRIM', KEYS[10], 0, {LISTED - 1})
end
if small[8] ~= '' then
  redis.call('LPUSH', KEYS[11], small[8])
  redis.call('LTRIM', KEYS[11], 0, {LISTED - 1})
end
if fresh then  -- the hour's first event; a day's expiry moves with each of its hours
  redis.call('EXPIRE', KEYS[7], {TOTALS_TTL})
  redis.call('EXPIRE', KEYS[8], {TOTALS_TTL})
end
return {{sid, seq, prev, hash}}
"""
)

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
