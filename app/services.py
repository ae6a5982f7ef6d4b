"""The services a job runs with, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from app.audit import AuditLog
from app.budget import Budgets
from app.llm import LLM
from app.pause import PauseSwitch
from app.policy import Policy
from app.queue import JobQueue
from app.settings import Settings
from app.slack import SlackPort

if TYPE_CHECKING:
    from app.inbox import SlackInbox


@dataclass
class Services:
    settings: Settings
    redis: aioredis.Redis
    queue: JobQueue
    slack: SlackPort
    audit: AuditLog
    policy: Policy
    budgets: Budgets
    pause: PauseSwitch
    llm: LLM | None  # None: the offline engine
    # The Slack listeners, for requests acknowledged before they were read (app/inbox.py);
    # installed by whoever runs workers (handlers.inbox.install).
    inbox: SlackInbox | None = None

    @property
    def engine(self) -> str:
        return "offline" if self.llm is None else "openai"
