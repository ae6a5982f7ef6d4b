"""The services a job runs with, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from app.queue import JobQueue
from app.settings import Settings
from app.slack import SlackPort


@dataclass
class Services:
    settings: Settings
    redis: aioredis.Redis
    queue: JobQueue
    slack: SlackPort

    @property
    def engine(self) -> str:
        return self.settings.engine
