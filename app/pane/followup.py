"""A follow-up question typed in the agent pane, answered by the `ask` use case and streamed.

Which conversation it is about: the one the pane last summarised in that pane thread (kept in
Redis per thread, like what is in view, app/pane/context.py), else the channel (or thread) in
view; with neither, a short answer saying how to ask — never a guess. The answer streams into
the thread with the pane's throttled streamer (app/pane/stream.py) and ends like a pane
summary: citations, confidence, AI-generated, Why? and Slack's feedback buttons. Refusals are
`ask`'s own texts (the same as `/steward ask`); a model that dies midway ends with its line.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from app.ask.ask import ask_stream
from app.ask.request import MAX_QUESTION_CHARS, AskRequest
from app.ask.result import AskResult
from app.ask.views import answer_markdown
from app.pane import render
from app.pane.context import VIEW_TTL_S
from app.pane.intents import Viewing
from app.pane.stream import Streamer
from app.runtime.services import Services
from app.slack import agent
from app.slack import blocks as bk
from app.slack.agent import PaneThread
from app.slack.mrkdwn import escape
from app.slack.port import SlackError
from app.summaries.targets import DEFAULT_WINDOW, Target
from app.summaries.views import CAUTION, confidence_line, engine_label

log = logging.getLogger(__name__)

HOW_TO_ASK = (
    "Which conversation is the question about? Ask it in the thread of a summary I made, or "
    "open the channel beside this pane and ask again."
)
ASKED_TTL_S = 24 * 3600


def _about_key(thread: PaneThread) -> str:
    return f"steward:pane:about:{thread.team_id}:{thread.channel_id}:{thread.thread_ts}"


async def remember_target(redis: aioredis.Redis, thread: PaneThread, target: Target) -> None:
    """The conversation a pane thread summarised: what its follow-up questions are about."""
    await redis.set(_about_key(thread), target.model_dump_json(), ex=VIEW_TTL_S)


async def recall_target(redis: aioredis.Redis, thread: PaneThread) -> Target | None:
    raw = await redis.get(_about_key(thread))
    return Target.model_validate_json(raw) if raw else None


def _in_view(viewing: Viewing | None) -> Target | None:
    if viewing is None:
        return None
    window = None if viewing.thread_ts else int(DEFAULT_WINDOW.total_seconds())
    return Target(channel_id=viewing.channel_id, thread_ts=viewing.thread_ts, window_seconds=window)


async def run_followup(
    services: Services,
    thread: PaneThread,
    *,
    interaction_id: str,
    question: str,
    viewing: Viewing | None,
) -> None:
    target = await recall_target(services.redis, thread) or _in_view(viewing)
    if target is None:
        await _say(services, thread, HOW_TO_ASK)
        return
    # One answer per pane message: a re-run of the job (or a retried event) asks nothing again.
    if not await services.redis.set(
        f"steward:pane:asked:{interaction_id}", "1", nx=True, ex=ASKED_TTL_S
    ):
        return
    req = AskRequest(
        interaction_id=interaction_id,
        team_id=thread.team_id,
        user_id=thread.user_id,
        target=target,
        question=question[:MAX_QUESTION_CHARS],
        trigger="pane",
        reply_channel=thread.channel_id,
        reply_thread_ts=thread.thread_ts,
    )
    await _status(services, thread, "Checking policy and reading the conversation…")
    await _answer(services, thread, req)


async def _answer(services: Services, thread: PaneThread, req: AskRequest) -> None:
    stream = ask_stream(services, req)
    deltas = aiter(stream)
    first = await anext(deltas, None)  # nothing is shown before the first word, or a refusal
    if (
        first is None
        and stream.result is not None
        and stream.result.status
        in (
            "refused",
            "failed",
        )
    ):
        await _say(services, thread, stream.result.text)
        return

    async def chunks() -> AsyncIterator[str]:
        if first is not None:
            yield escape(first)
        async for delta in deltas:
            yield escape(delta)
        if stream.result is not None:
            yield _trailer(stream.result)

    def ending() -> list[dict[str, Any]]:
        assert stream.result is not None
        return final_blocks(stream.result)

    await Streamer(services.slack, thread).run(chunks(), ending, ending)


def _trailer(result: AskResult) -> str:
    """What follows the streamed words: citation marks, "the messages don't say", an end line."""
    if result.status == "answered" and not result.end_line:
        marks = " ".join(
            f"[{c.n}]({c.permalink})" if c.permalink else f"[{c.n}]" for c in result.citations
        )
        low = result.confidence is not None and result.confidence.label == "Low"
        caution = CAUTION.replace("summary", "answer").replace(
            "*Low confidence*", "**Low confidence**"
        )
        return (f" {marks}" if marks else "") + (f"\n\n{caution}" if low else "") + "\n"
    if result.end_line:
        return f"\n\n{result.end_line}\n"
    return answer_markdown(result) + "\n"


def final_blocks(result: AskResult) -> list[dict[str, Any]]:
    """The label, Why?, and — for an answer that ended well — 👍 / 👎 as feedback_buttons."""
    iid = result.interaction_id
    label = ["AI-generated"]
    if result.status == "answered" and result.confidence is not None:
        label.append(confidence_line(result.confidence))
    label.append(engine_label(result.engine or "", result.model or ""))
    n = result.redactions
    label.append(f"{n} redaction(s) before the model" if n else "no redactions")
    why = bk.actions(bk.button("Why?", "why", iid), block_id=f"why:{iid}")
    shown = bk.to_dicts([bk.context(*label), why])
    return shown if result.status == "failed" else [*shown, render.feedback_block(iid)]


async def _status(services: Services, thread: PaneThread, text: str) -> None:
    try:
        await agent.set_status(services.slack, thread, text)
    except SlackError as exc:
        log.info("pane status not shown", extra={"code": exc.code})


async def _say(services: Services, thread: PaneThread, text: str) -> None:
    await services.slack.post_message(thread.channel_id, text, thread_ts=thread.thread_ts)
