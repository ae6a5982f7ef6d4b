"""Dedupe keys: the first job for a key (a Slack event_id, a command's trigger_id) wins.

Slack redelivers an event it got no 200 for up to three times, the last about five minutes after
the first (docs.slack.dev/apis/events-api, "Retries"), and a replayed signed request is refused
by the gate once its timestamp is five minutes old (handlers/gate.py). So a key only has to be
remembered for minutes; it is kept for an hour (`WINDOW_S`), ample for a redelivery that Slack's
own backoff delays, and then forgotten, so they do not pile up.

Keys are kept compactly, because there is one per request: a key is stored as an 8-byte digest
(so is the job that claimed it), in one of `SHARDS` small hashes per 10-minute bucket. Small
hashes stay in Redis's listpack encoding (tens of bytes an entry, where a key of its own costs a
couple of hundred), and a bucket expires as a whole. A key is looked for in every bucket of the
window, and claimed in the current one: one script, so two deliveries racing each other still
make one job.
"""

from __future__ import annotations

import hashlib
import time

from app.runtime.keys import dedupe_bucket

BUCKET_S = 600
WINDOW_S = 3600
SHARDS = 4096  # at 1,000 requests a minute, ~2.5 entries per hash: far below listpack's 128
_BUCKETS = WINDOW_S // BUCKET_S + 1  # the current bucket and the window's worth before it

# KEYS[1] the stream; KEYS[2..] the key's buckets, current first. ARGV: digest, owner, ttl, job,
# bound. false: a duplicate; '': refused, the lane's backlog is at its bound; else the entry id.
ENQUEUE = """
for i = 2, #KEYS do
  if redis.call('HEXISTS', KEYS[i], ARGV[1]) == 1 then return false end
end
local bound = tonumber(ARGV[5])
if bound > 0 and redis.call('XLEN', KEYS[1]) >= bound then return '' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3], 'NX')
return redis.call('XADD', KEYS[1], '*', 'job', ARGV[4])
"""

# KEYS: the key's buckets, current first. ARGV: digest, owner (the job being run), ttl.
# 1 when the owner holds the claim (it may be re-running after its worker died), else 0.
CLAIM = """
for i = 1, #KEYS do
  local owner = redis.call('HGET', KEYS[i], ARGV[1])
  if owner then
    if owner == ARGV[2] then return 1 end
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
return 1
"""


def digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=8).hexdigest()


def buckets(key_digest: str, now: float | None = None) -> list[str]:
    """The hashes `key_digest` may be in, the current bucket's first."""
    bucket = int((time.time() if now is None else now) // BUCKET_S)
    shard = int(key_digest[:4], 16) % SHARDS
    return [dedupe_bucket(bucket - age, shard) for age in range(_BUCKETS)]


def ttl() -> int:
    """A bucket lives until the window has passed over its last second."""
    return WINDOW_S + BUCKET_S
