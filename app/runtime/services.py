"""The services a job runs with, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from app.audit.log import AuditLog
from app.governance.budget import Budgets
from app.governance.pause import PauseSwitch
from app.governance.policy_schema import Policy
from app.model.llm import LLM
from app.runtime.queue import JobQueue
from app.runtime.settings import Settings
from app.slack.port import SlackPort

if TYPE_CHECKING:
    from app.runtime.inbox import SlackInbox


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
    # The Slack listeners, for requests acknowledged before they were read (app/runtime/inbox.py);
    # installed by whoever runs workers (handlers.inbox.install).
    inbox: SlackInbox | None = None

    @property
    def engine(self) -> str:
        return "offline" if self.llm is None else "openai"

    @property
    def prompt_version(self) -> str:
        """The summary prompts' version: what `defaults.require_eval` wants a passing eval for."""
        from app.summaries.prompts import PROMPT_VERSION

        return PROMPT_VERSION
