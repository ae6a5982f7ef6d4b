"""Streaming into a pane thread against the strict sandbox: the first text at once, appends
throttled on an injected clock, a source that dies midway ends with a clear line."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.model.errors import ModelError
from app.pane.stream import CUT_LINE, Streamer, finished_text
from app.sandbox import Sandbox, seed_demo_workspace
from app.slack.agent import PaneThread
from app.slack.port import SlackPort, web_client

DONE = [{"type": "markdown", "text": "done"}]


class Clock:
    """A clock moved by the chunk source itself: no sleeping, no timing asserted."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Sandbox, SlackPort, PaneThread]]:
    async with Sandbox(signing_secret="s") as sandbox:
        seed_demo_workspace(sandbox.workspace)
        dm = sandbox.workspace.open_im("U0EMP").id
        asked = sandbox.workspace.add_message(dm, "summarise this channel", user="U0EMP")
        port = SlackPort(web_client(sandbox.bot_token, sandbox.api_url))
        try:
            yield sandbox, port, PaneThread(dm, asked.ts, "U0EMP", sandbox.workspace.team_id)
        finally:
            await port.close()


async def paced(
    clock: Clock, parts: list[str], step: float, fail_at: int | None = None
) -> AsyncIterator[str]:
    """`parts` arriving `step` seconds apart (the source moves the clock); dies at `fail_at`."""
    for n, part in enumerate(parts):
        if n == fail_at:
            raise ModelError("The model took too long to answer.", "timeout", kind="timeout")
        clock.now += step
        yield part


async def test_appends_are_throttled(setup: tuple[Sandbox, SlackPort, PaneThread]) -> None:
    sandbox, port, thread = setup
    clock = Clock()
    streamer = Streamer(port, thread, clock, min_interval_s=1.0)
    parts = [f"part {n} " for n in range(10)]
    streamed = await streamer.run(paced(clock, parts, 0.25), DONE)
    assert streamed.complete and streamed.shown == "".join(parts)
    # 10 chunks 0.25 s apart: the first starts the stream, then one append a second at most
    assert len(sandbox.calls("chat.startStream")) == 1
    assert len(sandbox.calls("chat.appendStream")) == streamer.appends == 2
    [message] = [m for m in sandbox.thread(thread.channel_id, thread.thread_ts) if m.bot_id]
    assert message.text == "".join(parts) and not message.streaming and message.blocks == DONE


async def test_a_source_that_dies_midway_ends_with_a_clear_line(
    setup: tuple[Sandbox, SlackPort, PaneThread],
) -> None:
    sandbox, port, thread = setup
    clock = Clock()
    streamed = await Streamer(port, thread, clock).run(
        paced(clock, ["The launch ", "moves to ", "Tuesday."], 2.0, fail_at=2), DONE, []
    )
    assert not streamed.complete
    cut = CUT_LINE.format(reason="The model took too long to answer")
    assert streamed.shown == "The launch moves to " + cut
    [message] = [m for m in sandbox.thread(thread.channel_id, thread.thread_ts) if m.bot_id]
    assert message.text == streamed.shown and message.blocks == []  # nothing to rate


async def test_finished_text_is_cut_on_words_and_loses_nothing() -> None:
    text = "word " * 500 + "\nlast line"
    chunks = [c async for c in finished_text(text, size=120)]
    assert "".join(chunks) == text and all(len(c) <= 120 for c in chunks) and len(chunks) > 1
