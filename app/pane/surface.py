"""The agent pane as a `Surface` of the summary use case: honest loading statuses while it works
(assistant.threads.setStatus), refusals as replies in the thread, and the result streamed into
the thread with the citations, confidence, AI-generated, Why? and feedback buttons.

The streamed answer is kept under its interaction before it is sent (`steward:pane:answer:ID`)
and marked shown after (`steward:pane:shown:ID`), like `app/slack/delivery.py` for private
results: a re-run of the job after the answer was made shows it (again, if it never finished)
and spends nothing. A stream cut midway ends with a clear line, and a `failed` event records
the text that was shown.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel

from app.pane import render
from app.pane.stream import Streamed, Streamer, finished_text
from app.runtime.clock import SYSTEM, Clock
from app.runtime.services import Services
from app.slack import agent
from app.slack.agent import PaneThread
from app.slack.port import SlackError
from app.summaries.surface import Finished, Progress

log = logging.getLogger(__name__)

ANSWER_TTL_S = 24 * 3600


def _status(progress: Progress, where: str) -> str:
    n = progress.count
    if progress.step == "checking_policy":
        return f"Checking policy for {where}…"
    if progress.step == "reading":
        return f"Reading {n:,} message{'s' if n != 1 else ''}…"
    if progress.step == "redacting":
        return f"Removing {n:,} personal detail{'s' if n != 1 else ''}…"
    return f"Summarising {n:,} parts…" if n > 1 else "Summarising…"


class Answer(BaseModel):
    """A rendered answer waiting to be streamed."""

    markdown: str
    blocks: list[dict[str, object]]
    cut_blocks: list[dict[str, object]]


class PaneSurface:
    def __init__(
        self,
        services: Services,
        thread: PaneThread,
        *,
        where: str,
        channel_id: str,
        clock: Clock = SYSTEM,
    ) -> None:
        self.services = services
        self.thread = thread
        self.where = where  # "#launch": how statuses name the conversation
        self.channel_id = channel_id  # the conversation summarised (for the audit)
        self.clock = clock
        self._order = asyncio.Lock()  # statuses go out in the order they happen

    async def progress(self, progress: Progress) -> None:
        async with self._order:
            try:
                await agent.set_status(
                    self.services.slack, self.thread, _status(progress, self.where)
                )
            except SlackError as exc:
                log.info("pane status not shown", extra={"code": exc.code})

    async def tell(self, text: str) -> None:
        await self.services.slack.post_message(
            self.thread.channel_id, text, thread_ts=self.thread.thread_ts
        )

    async def show(self, finished: Finished) -> None:
        answer = Answer(
            markdown=render.summary_markdown(finished),
            blocks=render.final_blocks(finished),
            cut_blocks=render.cut_blocks(finished),
        )
        iid = finished.interaction_id
        await self.services.redis.set(_answer_key(iid), answer.model_dump_json(), ex=ANSWER_TTL_S)
        await self._stream(iid, answer)

    async def resume(self, interaction_id: str) -> bool:
        redis = self.services.redis
        if await redis.exists(_shown_key(interaction_id)):
            return True
        raw = await redis.get(_answer_key(interaction_id))
        if raw is None:
            return False
        await self._stream(interaction_id, Answer.model_validate_json(raw))
        return True

    async def _stream(self, interaction_id: str, answer: Answer) -> None:
        streamer = Streamer(self.services.slack, self.thread, self.clock)
        # The one place the text source is chosen: the finished answer in chunks. With the
        # model's own stream (app/model, branch i13ask) its chunk iterator goes here instead.
        chunks = finished_text(answer.markdown)
        streamed = await streamer.run(chunks, answer.blocks, answer.cut_blocks)
        pipe = self.services.redis.pipeline(transaction=True)
        pipe.set(_shown_key(interaction_id), "1", ex=ANSWER_TTL_S)
        pipe.delete(_answer_key(interaction_id))
        await pipe.execute()
        if not streamed.complete:
            await self._record_cut(interaction_id, streamed)

    async def _record_cut(self, interaction_id: str, streamed: Streamed) -> None:
        await self.services.audit.record(
            event="failed",
            interaction_id=interaction_id,
            actor_id=self.thread.user_id,
            team_id=self.thread.team_id,
            channel_id=self.channel_id,
            use_case="summarize",
            reason=f"stream cut: {streamed.reason}",
            output=streamed.shown,
        )


def _answer_key(interaction_id: str) -> str:
    return f"steward:pane:answer:{interaction_id}"


def _shown_key(interaction_id: str) -> str:
    return f"steward:pane:shown:{interaction_id}"
