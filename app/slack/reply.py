"""Where a private answer to one person goes: `ReplyTo`, read by `SlackPort.tell`.

A leaf module (it imports nothing of app/), so the job queue can carry one with a job and any
package can build one from the request it is answering.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict


class _Asked(Protocol):
    """Any request that says who asked and from where (slash commands, clicks, events)."""

    @property
    def user_id(self) -> str: ...
    @property
    def channel_id(self) -> str | None: ...
    @property
    def response_url(self) -> str | None: ...


class ReplyTo(BaseModel):
    """The person, and the ways to reach them privately, best first: an ephemeral in
    `channel_id` (in `thread_ts`), else the `response_url`, else a DM."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    channel_id: str | None = None
    response_url: str | None = None
    thread_ts: str | None = None

    @classmethod
    def of(cls, request: _Asked, thread_ts: str | None = None) -> ReplyTo:
        return cls(
            user_id=request.user_id,
            channel_id=request.channel_id,
            response_url=request.response_url,
            thread_ts=thread_ts,
        )

    @classmethod
    def dm(cls, user_id: str) -> ReplyTo:
        return cls(user_id=user_id)


class AskedPrivately(BaseModel):
    """A request answered privately to whoever asked, where they asked: beside the command, the
    mention or the shortcut (`reply_channel` / `reply_thread_ts`), else its response_url."""

    user_id: str
    reply_channel: str | None = None
    reply_thread_ts: str | None = None
    response_url: str | None = None

    @property
    def reply_to(self) -> ReplyTo:
        return ReplyTo(
            user_id=self.user_id,
            channel_id=self.reply_channel,
            response_url=self.response_url,
            thread_ts=self.reply_thread_ts,
        )
