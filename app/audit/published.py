"""Where checkpoints are published, out of Redis's reach, and how they are read back.

- The checkpoint file (STEWARD_AUDIT_CHECKPOINT_FILE, default STEWARD_DATA_DIR/
  audit-checkpoints.jsonl): one JSON checkpoint per line, only ever appended (O_APPEND, fsync),
  so a wiped or rewritten Redis leaves it as it was. Point it at storage the Redis operator does
  not control (a mounted write-once volume) for the strongest guarantee.
- The policy's `audit.checkpoint_channel`: a chat.postMessage whose text carries the checkpoint
  after MARK, so Slack's own history keeps a copy no one at the deployment can rewrite.

Reading back never trusts what it finds: each checkpoint's signature is checked by the caller.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from app.audit.checkpoint import Checkpoint
from app.slack.port import SlackPort

MARK = "steward-audit-checkpoint "


@dataclass(frozen=True)
class Published:
    """A checkpoint as found where it was published (or why the entry there is unusable)."""

    where: str  # "<file>:<line>" or "slack <channel> <ts>"
    checkpoint: Checkpoint | None
    problem: str | None = None


class CheckpointFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (checkpoint.line() + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[Published]:
        """Every line, in order; [] when the file does not exist (nothing was published)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                found.append(parse_line(line, f"{self.path}:{number}"))
        return found


def slack_text(checkpoint: Checkpoint) -> str:
    return (
        f"Audit checkpoint: {checkpoint.size:,} events, root `{checkpoint.root[:16]}…` "
        f"(log {checkpoint.log_id}, key {checkpoint.key[:16]}…)\n```{MARK}{checkpoint.line()}```"
    )


async def post(slack: SlackPort, channel: str, checkpoint: Checkpoint) -> str:
    """Publish to the channel; returns the message's ts. SlackError when Slack refuses."""
    posted = await slack.post_message(channel, slack_text(checkpoint))
    return str(posted.get("ts", ""))


async def read_channel(slack: SlackPort, channel: str) -> list[Published]:
    """Every checkpoint message in the channel's history, oldest first."""
    found = []
    for message in await slack.history(channel, "0"):
        text = _unescape(str(message.get("text", "")))
        start = text.find(MARK)
        if start < 0:
            continue
        body = text[start + len(MARK) :].split("```", 1)[0]
        found.append(parse_line(body, f"slack {channel} {message.get('ts', '?')}"))
    return found


def _unescape(text: str) -> str:
    # Slack stores &, < and > as entities (docs.slack.dev/messaging/formatting-message-text).
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_line(line: str, where: str) -> Published:
    try:
        return Published(where, Checkpoint.model_validate(json.loads(line)))
    except (ValueError, ValidationError):
        return Published(where, None, "not a checkpoint")
