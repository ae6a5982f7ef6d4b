"""The agent pane's Web API calls: loading status, suggested prompts, streamed messages.

Through the same port (`SlackPort`), so retries, errors and the shared connections are the
same as for every other call. Encodings and rules: docs.slack.dev/reference/methods/
assistant.threads.setStatus, assistant.threads.setSuggestedPrompts, chat.startStream,
chat.appendStream, chat.stopStream (slack_sdk's typed methods send them as JSON).

- An agent app's suggested prompts are set for its DM without `thread_ts` ("Including it in a
  call for an agent app will cause the call to silently fail").
- A stream answers a person's message (`thread_ts`, "Streamed messages should always be replies
  to a user request"); outside a DM it names its recipient (`recipient_user_id`,
  `recipient_team_id`). The stream calls are never re-sent after a lost answer (`NOT_REPEATABLE`
  in port.py): a repeat would double the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.slack.port import SlackPort

MAX_MARKDOWN = 12_000  # chat.startStream / appendStream: "Limit this field to 12,000 characters"
MAX_PROMPTS = 4  # setSuggestedPrompts: "up to four suggested prompts"


@dataclass(frozen=True)
class SuggestedPrompt:
    title: str
    message: str


@dataclass(frozen=True)
class PaneThread:
    """A thread of the agent pane: the DM, the person's message it answers, who reads it."""

    channel_id: str
    thread_ts: str
    user_id: str
    team_id: str


async def set_status(port: SlackPort, thread: PaneThread, status: str) -> None:
    await port._call(
        "assistant.threads.setStatus",
        channel_id=thread.channel_id,
        thread_ts=thread.thread_ts,
        status=status,
        loading_messages=[status] if status else None,
    )


async def set_suggested_prompts(
    port: SlackPort, channel_id: str, prompts: Sequence[SuggestedPrompt], title: str | None
) -> None:
    await port._call(
        "assistant.threads.setSuggestedPrompts",
        channel_id=channel_id,
        title=title,
        prompts=[{"title": p.title, "message": p.message} for p in prompts[:MAX_PROMPTS]],
    )


async def start_stream(port: SlackPort, thread: PaneThread, markdown: str) -> str:
    """Start the answer with its first text; returns the streaming message's ts."""
    answer = await port._call(
        "chat.startStream",
        channel=thread.channel_id,
        thread_ts=thread.thread_ts,
        markdown_text=markdown or None,
        **_recipient(thread),
    )
    return str(answer.get("ts", ""))


async def append_stream(port: SlackPort, thread: PaneThread, ts: str, markdown: str) -> None:
    await port._call("chat.appendStream", channel=thread.channel_id, ts=ts, markdown_text=markdown)


async def stop_stream(
    port: SlackPort,
    thread: PaneThread,
    ts: str,
    markdown: str,
    blocks: Sequence[dict[str, Any]] | None,
) -> None:
    await port._call(
        "chat.stopStream",
        channel=thread.channel_id,
        ts=ts,
        markdown_text=markdown or None,
        blocks=list(blocks) if blocks else None,
    )


def _recipient(thread: PaneThread) -> dict[str, str]:
    if thread.channel_id.startswith("D"):
        return {}
    return {"recipient_user_id": thread.user_id, "recipient_team_id": thread.team_id}
