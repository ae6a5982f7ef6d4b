"""Socket Mode transport: `steward socket`. No public URL needed; Slack pushes envelopes over a
websocket opened with the app-level token, and Bolt acknowledges each one."""

from __future__ import annotations

import asyncio

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from app.runtime.process import Runtime
from handlers import inbox
from handlers.bolt import build_bolt


async def run_socket(runtime: Runtime, stop: asyncio.Event, *, workers: int = 1) -> None:
    app = build_bolt(runtime, socket_mode=True)
    handler = AsyncSocketModeHandler(app, runtime.settings.secret("SLACK_APP_TOKEN"))
    if workers:
        inbox.install(runtime)  # an HTTP `serve` on the same Redis may queue Slack requests
        runtime.start_workers(workers)
    try:
        # Connecting may take long (Slack unreachable: the client keeps retrying); a SIGTERM or
        # SIGINT meanwhile must still stop the process.
        connecting = asyncio.ensure_future(handler.connect_async())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not connecting.done():
                connecting.cancel()
        if connecting.done() and not connecting.cancelled():
            connecting.result()  # a failure to connect ends the process, as before
        await stop.wait()
    finally:
        await handler.close_async()
        await runtime.close()
