"""Short-lived handles Slack gives the app with an interaction: trigger IDs and response URLs.

Slack lets a ``trigger_id`` open one view within 3 seconds and a ``response_url`` be used five
times within 30 minutes; the sandbox enforces the same so an app that is slow to open a modal
fails here as it would in Slack.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TRIGGER_TTL = 3.0
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0


@dataclass
class Trigger:
    """A trigger issued with an interaction by ``user`` (inside ``view_id`` if from a modal)."""

    id: str
    user: str
    issued_at: float
    view_id: str | None = None
    used: bool = False


@dataclass
class ResponseTarget:
    """Where a ``response_url`` posts: the user, channel and the message it came from."""

    id: str
    user: str
    channel: str | None
    message_ts: str | None = None
    ephemeral_id: int | None = None
    thread_ts: str | None = None
    created_at: float = field(default_factory=time.monotonic)
    uses: int = 0


class TriggerError(Exception):
    """Raised with the Slack error code for an unusable trigger."""


class Interactions:
    """Registry of triggers and response URLs issued by the user side."""

    def __init__(
        self, trigger_ttl: float = TRIGGER_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.trigger_ttl = trigger_ttl
        self._clock = clock
        self.triggers: dict[str, Trigger] = {}
        self.responses: dict[str, ResponseTarget] = {}
        self.socket_tickets: set[str] = set()

    def issue_socket_ticket(self) -> str:
        """A one-connection ticket for the URL apps.connections.open hands out."""
        ticket = secrets.token_hex(8)
        self.socket_tickets.add(ticket)
        return ticket

    def issue_trigger(self, user: str, view_id: str | None = None) -> str:
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(trigger_id, user, self._clock(), view_id)
        return trigger_id

    def use_trigger(self, trigger_id: str) -> Trigger:
        """Consume a trigger or raise :class:`TriggerError` with Slack's error code."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise TriggerError("invalid_trigger_id")
        if trigger.used:
            raise TriggerError("exchanged_trigger_id")
        if self._clock() - trigger.issued_at > self.trigger_ttl:
            raise TriggerError("expired_trigger_id")
        trigger.used = True
        return trigger

    def issue_response(
        self,
        user: str,
        channel: str | None,
        *,
        message_ts: str | None = None,
        ephemeral_id: int | None = None,
        thread_ts: str | None = None,
    ) -> str:
        response_id = secrets.token_hex(12)
        self.responses[response_id] = ResponseTarget(
            id=response_id,
            user=user,
            channel=channel,
            message_ts=message_ts,
            ephemeral_id=ephemeral_id,
            thread_ts=thread_ts,
        )
        return response_id

    def use_response(self, response_id: str) -> tuple[ResponseTarget | None, str | None]:
        """The target and ``None``, or ``None`` and the error Slack gives for this URL."""
        target = self.responses.get(response_id)
        if target is None:
            return None, "expired_url"
        if time.monotonic() - target.created_at > RESPONSE_URL_TTL:
            return None, "expired_url"
        if target.uses >= RESPONSE_URL_USES:
            return None, "used_url"
        target.uses += 1
        return target, None
