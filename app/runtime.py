"""One process's runtime: Redis, the queue, the Slack port, and (optionally) job workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from app import jobs
from app.audit import AuditLog
from app.budget import Budgets
from app.llm import LLM
from app.pause import PauseSwitch
from app.policy import Policy, PolicyError, load_policy_or_default
from app.queue import Job, JobQueue, QueueConfig, Worker
from app.services import Services
from app.settings import FIXES, ConfigError, Settings
from app.slack import SlackPort, web_client
from app.store import async_client

log = logging.getLogger(__name__)


def load_startup_policy(settings: Settings) -> Policy:
    """The policy in force at start; a bad file stops the process with every error listed."""
    try:
        return load_policy_or_default(settings.steward_policy)
    except PolicyError as exc:
        listed = "; ".join(str(issue) for issue in exc.errors[:20])
        raise ConfigError(f"STEWARD_POLICY is invalid: {listed}") from None
    except OSError as exc:
        raise ConfigError(
            f"STEWARD_POLICY is unreadable ({exc.strerror}): {FIXES['STEWARD_POLICY']}."
        ) from None


def build_llm(settings: Settings) -> LLM | None:
    """The model client, or None for the offline engine."""
    if settings.engine == "offline":
        return None
    settings.require("OPENAI_API_KEY")
    return LLM(
        api_key=settings.secret("OPENAI_API_KEY"),
        model=settings.openai_model,
        base_url=settings.openai_base_url,
    )


@dataclass
class Runtime:
    settings: Settings
    redis_url: str
    queue_config: QueueConfig = field(default_factory=QueueConfig)
    services: Services = field(init=False)
    _workers: list[Worker] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

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
            llm=build_llm(self.settings),
        )

    @property
    def queue(self) -> JobQueue:
        return self.services.queue

    async def handle(self, job: Job) -> None:
        await jobs.dispatch(self.services, job)

    async def on_dead(self, job: Job, error: str) -> None:
        await jobs.tell_dead(self.services, job, error)

    def start_workers(self, count: int = 1) -> None:
        """Start `count` consumers in this event loop (each runs several jobs at once)."""
        for index in range(count):
            worker = Worker(self.queue, self.handle, self.on_dead)
            if count > 1:
                worker.name = f"{worker.name}-{index}"
            self._workers.append(worker)
            self._spawn(worker.run)

    def _spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._tasks.append(asyncio.create_task(factory()))

    async def ready(self) -> bool:
        """True when Redis answers: the readiness a load balancer should see."""
        try:
            return bool(await self.services.redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.services.redis.aclose()
