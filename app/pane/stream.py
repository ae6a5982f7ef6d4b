"""An answer streamed into a pane thread: chat.startStream, throttled appendStream, stopStream.

The text comes from an async iterator of markdown chunks. Today it is the finished answer cut
into pieces (`finished_text`), the stand-in for the model's own stream: when the model streams
(the `ask` use case, branch i13ask), its chunk iterator goes in instead and nothing here changes.

Throttled so Slack's rate limits hold whatever the model's pace: the first text goes out at once
(startStream), then at most one appendStream per `min_interval_s` on the injected clock (text
that comes sooner waits in a buffer), and the rest with stopStream, which also adds the final
blocks. Nothing sleeps: a buffer is sent when the next chunk arrives after the interval, or at
the end. A chunk source that fails midway ends the message with a clear line, never a half
answer without notice; `Streamed` says what was shown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.runtime.clock import SYSTEM, Clock
from app.slack import agent
from app.slack.agent import PaneThread
from app.slack.port import SlackError, SlackPort

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 1.0  # chat.appendStream is rate limited per message; one a second is safe
CHUNK_CHARS = 600
CUT_LINE = (
    "\n\n:warning: _The answer stopped here: {reason}. Nothing after this line was written; "
    "ask again to get the whole answer._"
)


async def finished_text(text: str, size: int = CHUNK_CHARS) -> AsyncIterator[str]:
    """A finished answer as chunks of about `size` characters, cut after a line or a space."""
    rest = text
    while rest:
        if len(rest) <= size:
            yield rest
            return
        cut = max(rest.rfind("\n", 0, size), rest.rfind(" ", 0, size))
        cut = cut + 1 if cut > 0 else size
        yield rest[:cut]
        rest = rest[cut:]


@dataclass(frozen=True)
class Streamed:
    ts: str
    shown: str  # every character the person was shown, the cut line included
    complete: bool
    reason: str | None = None  # why it stopped early


Blocks = Sequence[dict[str, Any]] | Callable[[], Sequence[dict[str, Any]]]


def _pieces(text: str) -> list[str]:
    return [text[i : i + agent.MAX_MARKDOWN] for i in range(0, len(text), agent.MAX_MARKDOWN)]


class Streamer:
    def __init__(
        self,
        port: SlackPort,
        thread: PaneThread,
        clock: Clock = SYSTEM,
        min_interval_s: float = MIN_INTERVAL_S,
    ) -> None:
        self.port = port
        self.thread = thread
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.appends = 0

    async def run(
        self,
        chunks: AsyncIterator[str],
        blocks: Blocks,
        cut_blocks: Blocks | None = None,
    ) -> Streamed:
        """Stream `chunks`; `blocks` end a complete answer, `cut_blocks` one that stopped.
        Either may be a function, called once the chunks are done (an answer's citations and
        confidence are known only then)."""
        ts: str | None = None
        shown, buffer, last = "", "", 0.0
        reason: str | None = None
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except (
                Exception
            ) as exc:  # the source (a model) died midway: say so, keep what was shown
                reason = _reason(exc)
                log.warning("stream source failed", extra={"error": type(exc).__name__})
                break
            buffer += chunk
            if ts is None:
                first, buffer = buffer[: agent.MAX_MARKDOWN], buffer[agent.MAX_MARKDOWN :]
                ts = await agent.start_stream(self.port, self.thread, first)
                shown, last = first, self.clock.monotonic()
            elif buffer and self.clock.monotonic() - last >= self.min_interval_s:
                for piece in _pieces(buffer):
                    await agent.append_stream(self.port, self.thread, ts, piece)
                    self.appends += 1
                shown, buffer, last = shown + buffer, "", self.clock.monotonic()
        if reason is not None:
            buffer += CUT_LINE.format(reason=reason)
        if ts is None:
            ts = await agent.start_stream(self.port, self.thread, "")
        *middle, final = _pieces(buffer) or [""]
        for piece in middle:  # more than one stopStream can carry: sent as appends first
            await agent.append_stream(self.port, self.thread, ts, piece)
            self.appends += 1
        chosen = blocks if reason is None else (cut_blocks or [])
        ending = chosen() if callable(chosen) else chosen
        await agent.stop_stream(self.port, self.thread, ts, final, ending)
        return Streamed(ts=ts, shown=shown + buffer, complete=reason is None, reason=reason)


def _reason(exc: Exception) -> str:
    message = getattr(exc, "user_message", None)
    if isinstance(message, str) and message:
        return message.rstrip(".")
    if isinstance(exc, SlackError):
        return "Slack stopped taking the text"
    return "the model stopped answering"
