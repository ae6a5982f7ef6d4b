"""HTTP transport: the ASGI app `steward serve` runs under uvicorn.

POST /slack/events takes events, slash commands and interactivity. Every request passes the
gate first (handlers/gate.py: size, signature, shape, workspace; refusals are 4xx, counted and
logged once). Slash commands and events are then queued as they are, and answered at once
(handlers/inbox.py); everything else, and anything the inbox does not take, goes through Bolt.
No answer waits on a slow Redis longer than ACK_BUDGET_S. GET /healthz answers 200 only while
Redis does, within HEALTH_TIMEOUT_S; GET /metrics is Prometheus text.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.runtime import metrics
from app.runtime.acks_first import AcksFirst
from app.runtime.process import Runtime
from handlers import inbox
from handlers.bolt import build_bolt
from handlers.gate import Answer, Arrived, Gate, record

log = logging.getLogger(__name__)


EVENTS_PATH = "/slack/events"
# Slack gives up on an answer after 3 s: past this, answer without waiting for Redis.
ACK_BUDGET_S = 2.0
HEALTH_TIMEOUT_S = 1.0
SLOW_TEXT = (
    ":warning: Steward's database is slow to answer, so your request may not have been "
    "taken. If nothing happens within a minute, please try again."
)


QUEUED = Response()  # 200, empty: the request is queued
EMPTY_HEADERS = [(b"content-length", b"0")]


class InstalledTeam:
    """The workspace this deployment serves: the bot token's team, from auth.test, asked once
    (at start) and cached; after a failure, asked again at most every few seconds."""

    RETRY_S = 5.0

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._team: str | None = None
        self._next_try = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str | None:
        if self._team is not None:
            return self._team
        async with self._lock:
            if self._team is None and time.monotonic() >= self._next_try:
                try:
                    answer = await asyncio.wait_for(self._client.auth_test(), 5.0)
                    self._team = str(answer["team_id"])
                except Exception as exc:  # Slack unreachable or the token refused
                    self._next_try = time.monotonic() + self.RETRY_S
                    log.warning(
                        "auth.test failed: requests are refused until it answers",
                        extra={"error": type(exc).__name__},
                    )
        return self._team


def build_asgi(runtime: Runtime, *, workers: int = 1) -> ASGIApp:
    # The gate verifies every request's signature before Bolt sees it (handlers/gate.py).
    bolt = build_bolt(runtime, verified_upstream=True)
    front_door = inbox.FrontDoor(runtime.queue)
    team = InstalledTeam(runtime.services.slack.client)
    gate = Gate(
        runtime.settings.secret("SLACK_SIGNING_SECRET"),
        runtime.settings.steward_max_body_bytes,
        team.get,
    )
    late: set[asyncio.Task[Response]] = set()  # answered already, still waiting on Redis

    async def handle(arrived: Arrived, headers: Mapping[str, str]) -> Response:
        if await front_door.accept(arrived, headers):
            return QUEUED  # queued: a worker reads it (handlers/inbox.py)
        request = AsyncBoltRequest(body=arrived.body, headers=dict(headers))
        return to_starlette_response(await bolt.async_dispatch(request))

    async def within_budget(arrived: Arrived, headers: Mapping[str, str]) -> Response:
        """The answer, or — when Redis is too slow for Slack's 3 s — one that does not wait."""
        if arrived.kind in inbox.QUEUED_KINDS:
            # Nearly every request: queue it with no task or timer of its own (a task per
            # request is a tenth of the front door's CPU). Past the budget the wait ends, not
            # the XADD: the job may still land, as the slow answer says.
            try:
                if await front_door.accept(arrived, headers, give_up_after=ACK_BUDGET_S):
                    return QUEUED
            except TimeoutError:
                return slow(arrived)
        task = asyncio.ensure_future(handle(arrived, headers))  # Bolt, now: it must run on
        done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET_S)
        if task in done:
            return task.result()
        late.add(task)
        task.add_done_callback(_settle_late)
        task.add_done_callback(late.discard)
        return slow(arrived)

    def slow(arrived: Arrived) -> Response:
        metrics.SLOW_ACKS.inc()
        log.warning(
            "answered before the work was queued: redis is slow", extra={"kind": arrived.kind}
        )
        if arrived.kind == "event":
            return Response(status_code=503)  # Slack redelivers; the event_id drops a duplicate
        if arrived.kind == "command":
            return JSONResponse({"response_type": "ephemeral", "text": SLOW_TEXT})
        return Response()  # a click: its listener says so privately if the job was not taken

    acks = runtime.acks_first = AcksFirst() if workers else None

    async def answer(headers: Mapping[str, str], chunks: AsyncIterator[bytes]) -> Response:
        started = time.perf_counter()
        if acks is not None:
            acks.enter()
        try:
            arrived = await gate.admit(headers, chunks)
            if isinstance(arrived, Answer):
                record(arrived, headers)
                response = refusal(arrived)
            else:
                response = await within_budget(arrived, headers)
        finally:
            if acks is not None:
                acks.leave()
        metrics.ACK_SECONDS.observe(time.perf_counter() - started)
        metrics.slack_request_answered(response.status_code)
        return response

    async def healthz(_: Request) -> Response:
        try:
            ready = await asyncio.wait_for(runtime.ready(), HEALTH_TIMEOUT_S)
        except TimeoutError:
            ready = False
        if ready:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "redis unavailable"}, status_code=503)

    async def metrics_endpoint(_: Request) -> Response:
        try:
            depth = await asyncio.wait_for(runtime.queue.depth(), HEALTH_TIMEOUT_S)
            metrics.QUEUE_DEPTH.set(depth)
        except Exception:
            metrics.QUEUE_DEPTH.set(float("nan"))
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await team.get()  # once, at start; a failure is retried on the next request
        if workers:
            inbox.install(runtime)
            runtime.start_workers(workers)
        try:
            yield
        finally:
            for task in list(late):
                task.cancel()
            await runtime.close()

    routed = Starlette(
        routes=[
            Route(EVENTS_PATH, not_a_post),  # a POST never gets here (see `asgi`)
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        """Slack's POSTs skip Starlette's routing and middleware: they are nearly every request
        serve gets, and under a burst that per-request cost is latency for all of them."""
        if scope["type"] != "http" or scope["path"] != EVENTS_PATH or scope["method"] != "POST":
            await routed(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        try:
            response = await answer(headers, body_chunks(receive))
        except ClientGone:
            metrics.REJECTED_REQUESTS.labels(reason="disconnected").inc()
            return  # nobody to answer
        except Exception:
            log.exception("a slack request failed before it was answered")
            response = Response(status_code=500)
        if response is QUEUED:  # the common answer, sent without Starlette's per-call work
            await send({"type": "http.response.start", "status": 200, "headers": EMPTY_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return
        await response(scope, receive, send)

    return asgi


class ClientGone(Exception):
    """The peer closed the connection before its whole body arrived."""


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """A request's body as the ASGI server hands it over, a chunk at a time (read only as far
    as the gate asks: it stops at its size limit)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def not_a_post(_: Request) -> Response:
    return Response(status_code=405, headers={"allow": "POST"})


def refusal(answer: Answer) -> Response:
    """A gate's answer. A refusal closes the connection: the rest of a body it did not read (a
    flood's 200 MB) is never read, and a peer that sends such requests must connect again."""
    headers = {"connection": "close"} if answer.status >= 400 else None
    if answer.text:
        body = {"response_type": "ephemeral", "text": answer.text}
        return JSONResponse(body, status_code=answer.status, headers=headers)
    return Response(status_code=answer.status, headers=headers)


def _settle_late(task: asyncio.Task[Response]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "a late request failed after it was answered",
            extra={"error": type(task.exception()).__name__},
        )


class LoopbackServer:
    """Serve an ASGI app from the current event loop on a free loopback port (demo and tests)."""

    def __init__(self, asgi: ASGIApp, host: str = "127.0.0.1") -> None:
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
