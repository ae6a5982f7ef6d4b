"""One process's runtime: Redis, the queue, the Slack port, and (optionally) job workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from app import jobs
from app.audit import checkpoints, retention, sinks
from app.audit.log import AuditLog
from app.governance.budget import Budgets
from app.governance.name_lookup import ensure_resolved
from app.governance.pause import PauseSwitch
from app.governance.policy_issues import PolicyError
from app.governance.policy_schema import Policy
from app.governance.watch import PolicyWatcher, load_policy_in_force, watched_path
from app.model.llm import build_llm
from app.runtime import metrics, timers
from app.runtime.acks_first import AcksFirst
from app.runtime.clock import SYSTEM, Clock
from app.runtime.queue import Job, JobQueue, QueueConfig, Worker
from app.runtime.services import Services
from app.runtime.settings import FIXES, ConfigError, Settings
from app.runtime.store import async_client
from app.slack.port import SlackPort, web_client

log = logging.getLogger(__name__)


def load_startup_policy(settings: Settings) -> Policy:
    """The policy in force at start; a bad file stops the process with every error listed."""
    try:
        return load_policy_in_force(settings)
    except PolicyError as exc:
        listed = "; ".join(str(issue) for issue in exc.errors[:20])
        raise ConfigError(f"STEWARD_POLICY is invalid: {listed}") from None
    except OSError as exc:
        raise ConfigError(
            f"STEWARD_POLICY is unreadable ({exc.strerror}): {FIXES['STEWARD_POLICY']}."
        ) from None


@dataclass
class Runtime:
    settings: Settings
    redis_url: str
    queue_config: QueueConfig = field(default_factory=QueueConfig)
    clock: Clock = SYSTEM  # what the workers and the timer poller wait on; a test's moves by hand
    # Set by a transport that answers Slack in this process (serve): its workers let acks first.
    acks_first: AcksFirst | None = None
    services: Services = field(init=False)
    _workers: list[Worker] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _policy_watcher: PolicyWatcher | None = None
    _health: Any = None  # the health/metrics server of `serve_health` (an aiohttp AppRunner)

    def __post_init__(self) -> None:
        redis = async_client(self.redis_url)
        token = self.settings.secret("SLACK_BOT_TOKEN")
        self.services = Services(
            settings=self.settings,
            redis=redis,
            queue=JobQueue(redis, self.queue_config),
            slack=SlackPort(web_client(token, self.settings.slack_api_url)),
            audit=AuditLog(redis),
            policy=load_startup_policy(self.settings),
            budgets=Budgets(redis),
            pause=PauseSwitch(redis),
            llm=build_llm(self.settings, redis),
        )
        self.services.audit.content = lambda: self.services.policy.audit.content

    @property
    def queue(self) -> JobQueue:
        return self.services.queue

    async def handle(self, job: Job) -> None:
        # A policy written with names (`#launch`) is usable once Slack has said what they are.
        await ensure_resolved(self.services)
        await jobs.dispatch(self.services, job)

    async def on_dead(self, job: Job, error: str) -> None:
        await jobs.tell_dead(self.services, job, error)

    def start_workers(self, count: int = 1) -> None:
        """Start `count` consumers in this event loop (each runs several jobs at once)."""
        self.start_background()
        for index in range(count):
            worker = Worker(
                self.queue,
                self.handle,
                self.on_dead,
                clock=self.clock,
                before_read=self.acks_first.wait if self.acks_first else None,
            )
            if count > 1:
                worker.name = f"{worker.name}-{index}"
            self._workers.append(worker)
            self._spawn(worker.run)
        timers.start_timer_poller(self.services.redis, self._spawn, self._workers, self.clock)
        retention.start_retention(self.services, self._spawn, self._workers)  # hourly archive
        checkpoints.start_checkpoints(self.services, self._spawn, self._workers, self.clock)
        sinks.start_sinks(self.services, self._spawn, self._workers, self.clock)

    def start_background(self) -> None:
        """Per-process duties beside the workers (policy hot reload); safe to call twice."""
        if self._policy_watcher is None:
            self._policy_watcher = PolicyWatcher(self.services, watched_path(self.settings))
            self._spawn(self._policy_watcher.run)

    def _spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._tasks.append(asyncio.create_task(factory()))

    async def ready(self) -> bool:
        """True when Redis answers: the readiness a load balancer should see."""
        try:
            return bool(await self.services.redis.ping())
        except Exception:
            return False

    async def serve_health(self, host: str, port: int) -> None:
        """`GET /healthz` (200 while Redis answers, else 503) and `GET /metrics` (Prometheus
        text) on `host:port`, for a process without the HTTP app (`worker`, `socket`). Stopped
        by `close`. ConfigError when the port cannot be used."""
        from aiohttp import web

        async def healthz(_: web.Request) -> web.Response:
            if await self.ready():
                return web.json_response({"status": "ok"})
            return web.json_response({"status": "redis unavailable"}, status=503)

        async def metrics_endpoint(_: web.Request) -> web.Response:
            try:
                metrics.QUEUE_DEPTH.set(await self.queue.depth())
            except Exception:
                metrics.QUEUE_DEPTH.set(float("nan"))
            return web.Response(
                body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
            )

        app = web.Application()
        app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics_endpoint)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"--health-port {port} on {host} cannot be used ({exc.strerror})."
            ) from None
        self._health = runner

    async def close(self) -> None:
        if self._health is not None:
            await self._health.cleanup()
        for worker in self._workers:
            worker.stop()
        if self._policy_watcher is not None:
            self._policy_watcher.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.services.llm is not None:
            await self.services.llm.aclose()  # else its connections are closed by the GC, late
        await self.services.slack.close()
        await self.services.redis.aclose()
