"""Stream appends from concurrent callers, sent to Redis in one pipelined round trip."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis


class XaddBatch:
    """XADDs issued by concurrent callers, sent together in one pipeline.

    The first caller starts a flush task; everyone who arrives before it runs (or while its round
    trip is in flight) rides in the same or the next pipeline. Each caller gets its own entry id,
    or the Redis error that stopped the pipeline.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._waiting: list[tuple[str, str, asyncio.Future[str]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def xadd(self, stream: str, job_json: str) -> str:
        added: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((stream, job_json, added))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await added

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._send(batch)
        finally:  # cancelled (the process is stopping): nobody may be left waiting forever
            for _, _, added in self._waiting:
                added.cancel()

    async def _send(self, batch: list[tuple[str, str, asyncio.Future[str]]]) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            for stream, job_json, _ in batch:
                pipe.xadd(stream, {"job": job_json})
            ids = await pipe.execute()
        except Exception as exc:
            for _, _, added in batch:
                if not added.done():
                    added.set_exception(exc)
            return
        except BaseException:
            for _, _, added in batch:
                added.cancel()
            raise
        for (_, _, added), entry_id in zip(batch, ids, strict=True):
            if not added.done():  # its caller may have given up (client disconnected)
                added.set_result(entry_id)
