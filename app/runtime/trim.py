"""Keeping the job streams small: a finished job leaves Redis, and what is left is trimmed.

A stream entry stays until it is deleted, acknowledged or not, so a queue that only XACKs grows
by a job's whole payload for every request it ever took (issue 16 measured 34 MB after 30,000
commands). So a job that finished — or went to the dead letters — is XACKed and XDELed in one
script, with its delivery marks (app/runtime/sent.py): there is no moment at which it is
acknowledged but still in the stream, or deleted but still pending. With that, the stream holds
exactly the jobs waiting or running, and XLEN is the lane's backlog (app/runtime/batch.py).

`trim` is the safety net for entries nobody deleted (written by an older version, or left by a
bug): XTRIM MINID below the oldest entry the group still owes work on — the oldest pending one,
or, when nothing is pending, the first the group has not read yet. Pending and unread entries
are never trimmed. The worker runs it on its reclaim cadence, on the injected clock.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from app.runtime.keys import GROUP

# KEYS[1] stream, KEYS[2] the job's delivery marks; ARGV[1] group, ARGV[2] entry id.
FINISH = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS[1] stream; ARGV[1] group. Trims below the oldest entry the group still owes work on and
# returns how many entries went. A stream or group that does not exist is left alone.
_TRIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return 0 end
local last = nil
for _, g in ipairs(groups) do
  local name, delivered = nil, nil
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then delivered = g[i + 1] end
  end
  if name == ARGV[1] then last = delivered end
end
if last == nil then return 0 end
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local keep = summary[2]
if not keep then
  -- Nothing pending: everything up to the last delivered entry was acknowledged; keep the
  -- entries after it (not read yet). MINID keeps ids >= its argument, so `last` itself stays
  -- unless trimmed next time; an exclusive bound is not needed.
  keep = last
end
return redis.call('XTRIM', KEYS[1], 'MINID', keep)
"""


class Trimmer:
    """The streams' safety-net trim (see the module's docstring)."""

    def __init__(self, redis: aioredis.Redis, group: str = GROUP) -> None:
        self._trim = redis.register_script(_TRIM)
        self._group = group

    async def trim(self, stream: str) -> int:
        """Entries removed from `stream`: none that is pending or not read yet."""
        return int(await self._trim(keys=[stream], args=[self._group]))
