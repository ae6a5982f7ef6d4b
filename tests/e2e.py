"""The end-to-end harness: the real app, served over HTTP from this event loop, against the
local Slack sandbox and a real Redis. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.runtime.keys import GROUP, STREAMS
from app.runtime.process import Runtime
from app.runtime.queue import QueueConfig
from app.runtime.settings import Settings, load_settings
from app.sandbox import Sandbox, seed_demo_workspace
from handlers.http import LoopbackServer, build_asgi
from tests.clock import ManualClock

SECRET = "e2e-signing-secret"
EMPLOYEE = "U0EMP"
MANAGER = "U0MGR1"
ADMIN = "U0ADMIN"
GENERAL = "C0GENERAL"
LAUNCH = "C0LAUNCH"
LEADERSHIP = "C0LEADERSHIP"


def model_settings(model_url: str) -> dict[str, Any]:
    """Settings that send the model calls to a loopback OpenAI-compatible server."""
    return {
        "steward_engine": "openai",
        "openai_api_key": "sk-test-not-a-real-key",
        "openai_base_url": model_url,
        "openai_model": "test-model",
    }


@dataclass
class Stack:
    sandbox: Sandbox
    runtime: Runtime
    server: LoopbackServer

    @property
    def clock(self) -> ManualClock:
        """The runtime's clock: a test advances it to make a timer fall due or a retry come."""
        clock = self.runtime.clock
        assert isinstance(clock, ManualClock)
        return clock

    @property
    def events_url(self) -> str:
        return self.server.url + "/slack/events"


def test_settings(sandbox: Sandbox, redis_url: str, data_dir: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": sandbox.bot_token,
        "slack_signing_secret": SECRET,
        "slack_app_token": sandbox.app_token,
        "slack_api_url": sandbox.api_url,
        "redis_url": redis_url,
        "steward_data_dir": data_dir,
        "steward_engine": "offline",
        "openai_api_key": None,
    }
    values.update(extra)
    return load_settings(**values)


VISIBILITY = 30.0


def quick_queue() -> QueueConfig:
    """Production's visibility timeout (a loaded machine never loses a job to a late heartbeat);
    a test that needs a retry advances the stack's clock by `VISIBILITY` instead of waiting."""
    return QueueConfig(visibility_timeout=VISIBILITY, max_attempts=3, block_ms=100)


@asynccontextmanager
async def running_stack(
    redis_url: str,
    data_dir: Path,
    *,
    workers: int = 1,
    queue: QueueConfig | None = None,
    **settings: Any,
) -> AsyncIterator[Stack]:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        config = test_settings(sandbox, redis_url, data_dir, **settings)
        clock = ManualClock()
        runtime = Runtime(config, redis_url, queue or quick_queue(), clock)
        clock.redis = runtime.services.redis
        async with LoopbackServer(build_asgi(runtime, workers=workers)) as server:
            sandbox.app_url = server.url + "/slack/events"
            sandbox.transport = "http"
            yield Stack(sandbox, runtime, server)


async def pending(redis: Any) -> int:
    """Jobs delivered to a worker and not yet acknowledged, in both lanes."""
    total = 0
    for stream in STREAMS.values():
        if await redis.exists(stream):
            total += int((await redis.xpending(stream, GROUP))["pending"])
    return total


async def retrying(stack: Stack, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Wait for `condition()` to be truthy (and return it) while failed jobs are retried.

    A failed attempt stays pending until its visibility timeout; whenever every worker is idle
    and a job is still pending, the clock is advanced past that timeout, so the retry comes at
    once instead of after `VISIBILITY` seconds of wall time."""
    redis = stack.runtime.services.redis
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s of retries: {condition}")
        idle = not any(worker._running for worker in stack.runtime._workers)
        if idle and await pending(redis):
            await stack.clock.advance(VISIBILITY)
        await asyncio.sleep(0.02)  # poll, like Sandbox.wait_for
    return found
