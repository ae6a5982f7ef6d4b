"""HTTP transport: the ASGI app `steward serve` runs under uvicorn.

POST /slack/events takes events, slash commands and interactivity. Slash commands and events
are verified and queued as they are, and answered at once (handlers/inbox.py); everything else,
and anything the inbox does not take, goes through Bolt. Every signature is verified: bad or
stale ones get 401 and are counted. GET /healthz answers 200 only while Redis does; GET /metrics
is Prometheus text.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.runtime import metrics
from app.runtime.process import Runtime
from handlers import inbox
from handlers.bolt import build_bolt


def build_asgi(runtime: Runtime, *, workers: int = 1) -> Starlette:
    bolt = AsyncSlackRequestHandler(build_bolt(runtime))
    front_door = inbox.FrontDoor(runtime.queue, runtime.settings.secret("SLACK_SIGNING_SECRET"))

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        if await front_door.accept(await request.body(), request.headers):
            response = Response()  # queued: a worker reads it (handlers/inbox.py)
        else:
            response = await bolt.handle(request)
        metrics.ACK_SECONDS.observe(time.perf_counter() - started)
        metrics.SLACK_REQUESTS.labels(status=str(response.status_code)).inc()
        if response.status_code == 401:
            metrics.BAD_SIGNATURES.inc()
        return response

    async def healthz(_: Request) -> Response:
        if await runtime.ready():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "redis unavailable"}, status_code=503)

    async def metrics_endpoint(_: Request) -> Response:
        try:
            metrics.QUEUE_DEPTH.set(await runtime.queue.depth())
        except Exception:
            metrics.QUEUE_DEPTH.set(float("nan"))
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if workers:
            inbox.install(runtime)
            runtime.start_workers(workers)
        try:
            yield
        finally:
            await runtime.close()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


class LoopbackServer:
    """Serve an ASGI app from the current event loop on a free loopback port (demo and tests)."""

    def __init__(self, asgi: Starlette, host: str = "127.0.0.1") -> None:
        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            asgi, log_level="warning", access_log=False, lifespan="on", log_config=None
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopbackServer:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raise the start-up failure
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._sock.close()
