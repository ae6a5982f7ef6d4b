"""Answer a question about one conversation, from its messages only.

policy → limits (jobs in flight, rate, budget left) → access check → fetch (paginated) →
redact, select the relevant messages, boundary-mark → the model (or the offline engine) →
sanitise → ground & score → audit → the answer. The same gate, budget and audit events as a
summary (`requested`, then `generated`, `refused` or `failed`, one interaction id).

Two ways to run it, one pipeline (`answer`):

* `run_ask` — the `/steward ask` job: the answer arrives whole as a private message
  (app/slack/delivery.py: shown once, retried on its own);
* `ask_stream` — for the agent pane: an async iterator of sanitised text deltas as the model
  writes them, and `result` (an `AskResult`) once it is exhausted. It talks to nobody on Slack:
  the caller shows the deltas, the result's `end_line` and its citations.

A streamed answer is shown as it is written, so its `generated` event is recorded when it ends
(the `requested` one before anything is read); it holds what was finally shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Unpack

from app.ask.engine import AskRun, Delta, Engine
from app.ask.offline import MODEL as OFFLINE_MODEL
from app.ask.prompts import PROMPT_VERSION
from app.ask.request import AskRequest
from app.ask.result import AskResult, Citation
from app.ask.views import result_message
from app.audit.event import AuditContext, AuditDetail, EventName
from app.audit.sources import compact as compact_sources
from app.governance import gate as governance
from app.governance import model_choice, resolution
from app.governance.gate import Refusal
from app.model.errors import ModelError
from app.model.redact import Redactor
from app.runtime.services import Services
from app.slack import delivery, reading
from app.slack.messages import SourceMessage
from app.summaries import targets

log = logging.getLogger(__name__)

USE_CASE = "ask"
MAX_MESSAGES = 25_000  # as for summaries: the most recent ones are read


class _Session:
    """One question in flight: what to audit, and since when."""

    def __init__(self, services: Services, req: AskRequest) -> None:
        self.services = services
        self.req = req
        self.started = time.perf_counter()
        self.context = AuditContext(
            interaction_id=req.interaction_id,
            actor_id=req.user_id,
            team_id=req.team_id,
            channel_id=req.target.channel_id,
            use_case=USE_CASE,
        )

    async def audit(self, event: EventName, **detail: Unpack[AuditDetail]) -> None:
        await self.services.audit.record_in(self.context, event, **detail)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def result(self, **fields: Any) -> AskResult:
        base = {
            "interaction_id": self.req.interaction_id,
            "question": self.req.question,
            "channel_id": self.req.target.channel_id,
            "thread_ts": self.req.target.thread_ts,
        }
        return AskResult.model_validate(base | fields)


async def answer(
    services: Services, req: AskRequest, *, slot: bool, on_delta: Delta | None = None
) -> AskResult:
    """The whole pipeline; every outcome is an `AskResult` and its audit events."""
    session = _Session(services, req)
    decision = await governance.decide(services, req.user_id, USE_CASE, req.target.channel_id)
    await session.audit(
        "requested",
        approval_status="not_required",
        rule=decision.full_rule,
        extra={
            "trigger": req.trigger,
            "target": req.target.model_dump(),
            "question": Redactor().redact(req.question),
        },
    )
    try:
        messages = await _admitted(services, req, decision, slot)
    except Refusal as refusal:
        return await _refused(session, decision, refusal)
    model = governance.model_for(services, decision) if services.llm else OFFLINE_MODEL
    engine = Engine(services.llm, model, redact=decision.redact_pii)
    prepared = await engine.prepare(req.question, messages)
    reservation = None
    if services.llm is not None:
        try:
            reservation = await governance.reserve(
                services, req.team_id, req.user_id, prepared.estimate, decision
            )
        except Refusal as refusal:
            return await _refused(session, decision, refusal)
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)
        if on_delta is not None:
            await on_delta(text)

    try:
        run = await engine.answer(prepared, messages, show if on_delta is not None else None)
    except ModelError as exc:
        if reservation is not None:
            await services.budgets.settle(reservation, 0)
        return await _failed(session, decision, engine, exc, "".join(shown), len(messages))
    if reservation is not None:
        await services.budgets.settle(reservation, run.tokens_in + run.tokens_out)
    if on_delta is not None and run.answer.answered and not shown:
        await show(run.answer.text)  # the offline engine does not stream: one delta
    by_ts = {m.ts: m for m in messages}
    citations = [
        Citation(n=n, ts=ts, permalink=by_ts[ts].permalink, author=by_ts[ts].user_name)
        for n, ts in enumerate(run.answer.sources, 1)
        if ts in by_ts
    ]
    streamed = "".join(shown)
    status = "answered" if run.answer.answered else "not_in_messages"
    end_line = None
    if streamed and not run.answer.answered:
        end_line = (
            ":warning: Steward could not check that answer against the messages it cites, so "
            "treat it as unsupported: the messages don't say."
        )
    result = session.result(
        status=status,
        text=run.answer.text,
        citations=citations,
        confidence=run.confidence,
        engine=run.answer.engine,
        model=run.answer.model,
        unsupported=run.answer.unsupported,
        read=len(messages),
        selected=len(prepared.selection.messages),
        redactions=sum(prepared.redactions.values()),
        streamed=streamed,
        end_line=end_line,
    )
    await _generated(session, decision, result, run, messages)
    return result


async def _admitted(
    services: Services, req: AskRequest, decision: resolution.Decision, slot: bool
) -> list[SourceMessage]:
    """The gate, the limits, then the conversation (read alongside the access check)."""
    await governance.check(services, decision)
    if services.llm is not None:
        model_choice.model_for(services, decision)  # Refusal: never call a forbidden model
    await governance.admit(
        services, req.team_id, req.user_id, decision, slot=slot, use_case=USE_CASE
    )
    fetching = asyncio.ensure_future(_fetch(services, req))
    try:
        await reading.check_access(services.slack, req.target.channel_id, req.user_id)
    except reading.Unreadable as exc:
        fetching.cancel()
        raise Refusal(exc.message, exc.code) from None
    messages = await fetching
    return messages[-MAX_MESSAGES:]


async def _fetch(services: Services, req: AskRequest) -> list[SourceMessage]:
    empty = "There are no messages there to answer from in that time window."
    return await targets.read_target(services.slack, req.target, empty)


async def _refused(session: _Session, decision: resolution.Decision, refusal: Refusal) -> AskResult:
    await session.audit("refused", reason=refusal.code, rule=decision.full_rule)
    return session.result(status="refused", text=refusal.message, code=refusal.code)


async def _failed(
    session: _Session,
    decision: resolution.Decision,
    engine: Engine,
    exc: ModelError,
    streamed: str,
    read: int,
) -> AskResult:
    if streamed:
        text = (
            f":warning: The answer stopped midway: {exc.user_message} What is shown above is "
            f"incomplete. {exc.next_step}"
        )
    else:
        text = f":warning: {exc.user_message} No answer was made. {exc.next_step}"
    await session.audit(
        "failed",
        reason=f"model: {exc.code}",
        rule=decision.full_rule,
        engine=engine.name,
        model=engine.model,
        latency_ms=session.elapsed_ms(),
        output=f"{streamed}\n{text}" if streamed else text,
        extra={"streamed_chars": len(streamed)},
    )
    return session.result(
        status="failed",
        text=text,
        code=f"model: {exc.code}",
        engine=engine.name,
        model=engine.model,
        read=read,
        streamed=streamed,
        end_line=text if streamed else None,
    )


async def _generated(
    session: _Session,
    decision: resolution.Decision,
    result: AskResult,
    run: AskRun,
    messages: Sequence[SourceMessage],
) -> None:
    cited = [c.ts for c in result.citations]
    sources, described = compact_sources([m.ts for m in messages], cited)
    output = result.text
    if result.end_line:
        output = f"{result.streamed}\n{result.end_line}"
    confidence = run.confidence
    extra: dict[str, Any] = {
        **described,
        "answered": result.status == "answered",
        "unsupported": result.unsupported,
        "cited": cited,
        "selected": result.selected,
        "whole_conversation": run.prepared.selection.whole,
        "streamed": run.streamed,
        "model_calls": run.model_calls,
    }
    detail: AuditDetail = {
        "approval_status": "not_required",
        "rule": decision.full_rule,
        "model": result.model or "",
        "engine": result.engine or "",
        "prompt_version": PROMPT_VERSION,
        "sources": sources,
        "output": output,
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "latency_ms": session.elapsed_ms(),
        "redactions": run.prepared.redactions,
        "extra": extra,
    }
    if confidence is not None:
        detail["confidence"] = confidence.value
        extra["confidence"] = confidence.model_dump(exclude={"point_scores"})
    await session.audit("generated", **detail)


# ---- the two ways to run it ----------------------------------------------------------------


async def run_ask(services: Services, req: AskRequest) -> None:
    """The `/steward ask` job: the answer privately, where the person asked."""
    if await delivery.resume(services.redis, services.slack, req.interaction_id):
        return  # a re-run after the answer was made: shown again if it never got out
    async with governance.in_flight(services, req.team_id, req.user_id, req.interaction_id) as slot:
        result = await answer(services, req, slot=slot)
    if result.status in ("refused", "failed"):
        await services.slack.tell(req.reply_to, result.text)
        return
    message = result_message(result)
    await delivery.deliver(
        services.redis,
        services.slack,
        req.interaction_id,
        req.reply_to,
        message.text,
        message.blocks,
    )
    log.info(
        "answer delivered",
        extra={
            "interaction_id": req.interaction_id,
            "use_case": USE_CASE,
            "outcome": result.status,
            "messages": result.read,
        },
    )


class AskStream:
    """`async for delta in ask_stream(services, req): …` then `.result`.

    Deltas are sanitised answer text, in order, as the model writes it. Exhausting the iterator
    runs the whole pipeline (audit included); closing it early cancels the work."""

    def __init__(self, services: Services, req: AskRequest) -> None:
        self.services = services
        self.req = req
        self.result: AskResult | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        async def work() -> AskResult:
            services, req = self.services, self.req
            try:
                async with governance.in_flight(
                    services, req.team_id, req.user_id, req.interaction_id
                ) as slot:
                    return await answer(services, req, slot=slot, on_delta=queue.put)
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(work())
        try:
            while (delta := await queue.get()) is not None:
                yield delta
            self.result = await task
        finally:
            if not task.done():
                task.cancel()


def ask_stream(services: Services, req: AskRequest) -> AskStream:
    """The streamed form of `ask`, for the agent pane (see `AskStream`)."""
    return AskStream(services, req)
