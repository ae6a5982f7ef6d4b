"""What a job already sent to Slack, so that a run repeating it does not send it again.

A job whose worker died (SIGKILL, a lost host) is reclaimed and run again from the start; what
its first run showed people must not be shown twice. Every post that creates something
(chat.postMessage, chat.postEphemeral, a response_url reply — app/slack/port.py) goes through
`once`, which keeps a mark per message in one hash per job (`steward:job:ID:sent`, deleted with
the job when it finishes: app/runtime/trim.py). A message is known by a digest of where it goes
and what it says, plus how many identical ones the run sent before it, so a re-run that takes
another path (it resumes a stored result, app/slack/delivery.py) still recognises it.

Where the mark is written, relative to the send, is the whole trade-off:

- chat.postMessage can be read back. Its mark ("unsure") is written *with* the send — the
  Redis write leaves in the same turn of the event loop as the request, neither waiting for
  the other — and becomes the post's channel and ts once Slack answers. Each post carries its
  mark in Slack's message `metadata`, so a re-run that finds a mark still "unsure" (the worker
  died while Slack was answering) looks for it with conversations.history / replies and sends
  it only if it is not there: exactly once, whenever the worker died.
- An ephemeral or a response_url reply cannot be read back, so its mark is written *after*
  Slack answered. A worker killed during the request leaves no mark and the re-run sends the
  reply: if Slack had not taken it (a request cut off while Slack hung: tests/
  test_e2e_processes.py), the person still gets it. The price is a window of one Redis write
  after Slack's answer in which a kill duplicates the reply. Marking before the send would
  instead lose the reply whenever the kill came during the request; a lost answer leaves the
  person waiting with nothing to tell them, a duplicate private reply is only noise.
- A failure the run sees (Slack answered 5xx, the connection dropped) leaves no mark, so
  retries behave as before.

A first run reads nothing (it knows there are no marks): the cost on the normal path is one
Redis write per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.runtime.keys import job_sent

log = logging.getLogger(__name__)

UNSURE = "?"  # sent, or being sent when its worker died
Result = dict[str, Any]


@dataclass
class Run:
    """One run of one job: where its marks live and, on a re-run, what the earlier runs sent."""

    redis: aioredis.Redis
    job_id: str
    since: float  # when the job was queued: nothing it posted is older
    earlier: dict[str, str] | None = None  # None on a first run: nothing to read
    _seen: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return job_sent(self.job_id)

    def mark(self, where: str, text: str) -> str:
        digest = hashlib.blake2b(f"{where}\0{text}".encode(), digest_size=8).hexdigest()
        count = self._seen.get(digest, 0)
        self._seen[digest] = count + 1
        return f"{digest}.{count}"

    def metadata(self, mark: str) -> dict[str, Any]:
        """Slack message metadata naming the mark, so a post can be found again."""
        return {"event_type": "steward_delivery", "event_payload": {"mark": self.label(mark)}}

    def label(self, mark: str) -> str:
        return f"{self.job_id}/{mark}"


CURRENT: ContextVar[Run | None] = ContextVar("steward_sent_run", default=None)


async def begin(redis: aioredis.Redis, job_id: str, since: float, *, rerun: bool) -> Run:
    """The run of `job_id` the current task is about to do (set as CURRENT by the worker)."""
    if not rerun:
        return Run(redis, job_id, since)
    earlier = await redis.hgetall(job_sent(job_id))
    return Run(redis, job_id, since, {str(k): str(v) for k, v in earlier.items()})


Found = Callable[[Run, str], Awaitable[Result | None]]


async def once(
    where: str,
    text: str,
    send: Callable[[Run | None, str], Awaitable[Result]],
    *,
    found: Found | None = None,
    keep: Callable[[Result], Result] | None = None,
) -> Result:
    """`send(run, mark)` unless an earlier run of the current job sent it.

    With `found(run, label)` (chat.postMessage: it looks for a post carrying the mark's label
    in its metadata) the mark is written with the send; else after it. `keep(result)` says what
    of Slack's answer to store as the mark, for a re-run to return."""
    run = CURRENT.get()
    if run is None:  # not inside a job (a listener in serve): nothing can re-run it
        return await send(None, "")
    mark = run.mark(where, text)
    before = run.earlier.get(mark) if run.earlier else None
    if before == UNSURE and found is not None:
        landed = await found(run, run.label(mark))
        if landed is not None:
            log.info("found sent by an earlier run; not sent again", extra={"job_id": run.job_id})
            await _write(run, mark, json.dumps(landed))
            return landed
    elif before not in (None, UNSURE):
        log.info("sent by an earlier run; not sent again", extra={"job_id": run.job_id})
        return dict(json.loads(before))
    if found is None:
        result = await send(run, mark)
        await _write(run, mark, json.dumps(keep(result) if keep else {}))
        return result
    # Two tasks, scheduled back to back: the mark's write leaves first, the request right after
    # it in the same turn of the loop, neither waiting for the other's answer.
    written = asyncio.ensure_future(_write(run, mark, UNSURE))
    sending = asyncio.ensure_future(send(run, mark))
    try:
        result = await sending
    except BaseException:
        await asyncio.shield(written)
        with contextlib.suppress(RedisError):
            await run.redis.hdel(run.key, mark)
        raise
    await written
    await _write(run, mark, json.dumps(keep(result) if keep else {}))
    return result


async def _write(run: Run, mark: str, value: str) -> None:
    try:
        await run.redis.hset(run.key, mark, value)
    except RedisError as exc:  # the post itself matters more; a re-run may repeat it
        log.warning("could not keep a delivery mark", extra={"error": type(exc).__name__})
