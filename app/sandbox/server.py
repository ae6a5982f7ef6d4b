"""The :class:`Sandbox`: one loopback aiohttp server that plays Slack toward the app.

It serves the Web API (``/api/{method}``), response URLs, file upload URLs and the Socket Mode
websocket, and offers the test-side helpers: the user side, fault injection and recordings.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from .api_core import ApiContext
from .contract import manifest_bot_scopes, manifest_features
from .delivery import Deliverer, Transport
from .faults import Faults
from .interactions import TRIGGER_TTL, Interactions
from .payloads import url_verification
from .recorder import CallRecord, Recorder
from .records import Ephemeral, Message, ViewRecord
from .response_url import ResponseUrls
from .transport import Delivery, HttpTransport, Signing, SocketHub
from .user import SandboxUser
from .webapi import WebApi
from .workspace import Workspace

T = TypeVar("T")


class Sandbox:
    """A fake Slack for one app: start it, point slack_sdk at ``api_url``, drive the user side."""

    def __init__(
        self,
        signing_secret: str,
        bot_token: str = "xoxb-sandbox",
        app_token: str = "xapp-sandbox",
        app_url: str | None = None,
        *,
        workspace: Workspace | None = None,
        transport: Transport | None = None,
        trigger_ttl: float = TRIGGER_TTL,
        ack_timeout: float = 10.0,
        scopes: Iterable[str] | None = None,
    ) -> None:
        """``scopes``: the bot token's granted scopes; default exactly the bot scopes of
        ``manifest.yml`` (``oauth_config.scopes.bot``), as Slack grants them at install."""
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.workspace = workspace or Workspace()
        self.faults = Faults()
        self.recorder = Recorder()
        self.workspace.on_change = self.recorder.changed
        self.interactions = Interactions(trigger_ttl=trigger_ttl)
        granted = manifest_bot_scopes() if scopes is None else frozenset(scopes)
        self.workspace.pane.agent_view = "agent_view" in manifest_features()
        self._ctx = ApiContext(self.workspace, self.interactions, lambda: self._base_url, granted)
        self.socket = SocketHub(self.interactions, self.workspace.app_id, ack_timeout)
        self.http = HttpTransport(app_url, signing_secret, timeout=ack_timeout)
        default: Transport = transport or ("http" if app_url else "socket")
        self.deliverer = Deliverer(self.http, self.socket, default)
        self._runner: web.AppRunner | None = None
        self._base_url = ""

    # ------------------------------------------------------------------ lifecycle
    @property
    def app_url(self) -> str | None:
        return self.http.app_url

    @app_url.setter
    def app_url(self, value: str | None) -> None:
        """Point HTTP deliveries at the app (e.g. once its port is known)."""
        self.http.app_url = value

    @property
    def transport(self) -> Transport:
        return self.deliverer.default

    @transport.setter
    def transport(self, value: Transport) -> None:
        self.deliverer.default = value

    @property
    def scopes(self) -> frozenset[str]:
        """The bot token's granted scopes (what ``x-oauth-scopes`` reports)."""
        return self._ctx.scopes

    @scopes.setter
    def scopes(self, value: Iterable[str]) -> None:
        """Change the grant, e.g. to remove one scope mid-test (as a reinstall would)."""
        self._ctx.scopes = frozenset(value)

    def _application(self) -> web.Application:
        ctx = self._ctx
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            WebApi(ctx, self.faults, self.recorder, self.bot_token, self.app_token).routes()
        )
        app.add_routes(
            ResponseUrls(self.workspace, self.interactions, self.recorder, self.faults).routes()
        )
        app.add_routes(self.socket.routes())
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Serve on ``host:port`` (0 picks a free port) in the running event loop."""
        # handler_cancellation: a client that disconnects cancels its handler, so a call
        # delayed by a fault never takes effect — exactly what a killed worker causes in Slack.
        self._runner = web.AppRunner(
            self._application(),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=1.0,  # don't let a fault-delayed call hold up stop()
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}/"
        return self

    async def stop(self) -> None:
        await self.socket.close()
        await self.http.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL of the running sandbox, e.g. ``http://127.0.0.1:PORT/``."""
        if not self._base_url:
            raise RuntimeError("the sandbox is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The slack_sdk ``base_url`` (trailing slash included)."""
        return f"{self.url}api/"

    # ------------------------------------------------------------------ user side
    def user(self, user_id: str, transport: Transport | None = None) -> SandboxUser:
        """``user_id`` acting toward the app (over ``transport``, default the sandbox's)."""
        return SandboxUser(
            user_id,
            self.workspace,
            self.interactions,
            self.deliverer,
            lambda: self.url,
            transport,
        )

    async def deliver_raw(
        self,
        body: bytes,
        content_type: str = "application/json",
        *,
        signing: Signing = "valid",
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """POST arbitrary bytes to the app: ``signing`` = valid, unsigned, bad or stale."""
        return await self.deliverer.raw(body, content_type, signing=signing, headers=headers)

    async def url_verification(self, challenge: str = "sandbox-challenge") -> Delivery:
        """Slack's ``url_verification`` handshake; the app must echo the challenge."""
        return await self.deliverer.raw(json.dumps(url_verification(challenge)).encode())

    # ------------------------------------------------------------------ recordings
    def calls(self, method: str | None = None) -> list[CallRecord]:
        """Web API calls that reached a method (and response_url uses, as ``response_url``)."""
        return self.recorder.select(method)

    def in_flight(self, method: str | None = None) -> int:
        """Web API calls being handled right now (e.g. held by a ``delay`` fault)."""
        return self.recorder.in_flight(method)

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        return [
            e
            for e in self.workspace.ephemerals
            if (user is None or e.user == user) and (channel is None or e.channel == channel)
        ]

    def messages(self, channel: str) -> list[Message]:
        """Every message in ``channel`` (top level and replies) in ts order."""
        found = self.workspace.resolve_channel(channel)
        return found.all_messages() if found else []

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The parent and replies of one thread, in ts order."""
        found = self.workspace.resolve_channel(channel)
        if found is None or thread_ts not in found.by_ts:
            return []
        replies = found.threads.get(thread_ts)
        return [found.by_ts[thread_ts], *(replies.replies if replies else [])]

    @property
    def views(self) -> list[ViewRecord]:
        """Every modal and home view the app created, in creation order."""
        return list(self.workspace.views.values())

    def home(self, user: str) -> ViewRecord | None:
        view_id = self.workspace.homes.get(user)
        return self.workspace.views[view_id] if view_id else None

    async def wait_for(
        self, predicate: Callable[[], T | Awaitable[T | None] | None], timeout: float = 10.0
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every change); return its value."""
        return await self.recorder.wait_for(predicate, timeout, self.describe)

    def describe(self) -> str:
        """What was recorded, for assertion messages."""
        lines = [f"{len(self.recorder.calls)} Web API calls:"]
        lines += [f"  {c.summary()}" for c in self.recorder.calls[-30:]]
        lines.append(f"{len(self.workspace.ephemerals)} ephemerals:")
        lines += [
            f"  to {e.user} in {e.channel}: {e.text[:80]!r}"
            for e in self.workspace.ephemerals[-10:]
        ]
        lines.append(f"{len(self.workspace.views)} views; faults fired: {len(self.faults.fired)}")
        return "\n".join(lines)
