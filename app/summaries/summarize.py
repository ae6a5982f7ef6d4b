"""Summarise a thread or a channel for the person who asked.

policy → limits (jobs in flight, rate, budget left) → access check → fetch (paginated) →
"Summarising N messages…" → map-reduce on the model (redacted, datamarked) → sanitise → ground
& score → audit → private result. Every trigger (shortcut, mention, /summarize, DM with a link)
ends here.

Showing the result is its own step (`app/slack/delivery.py`): when it fails the job is retried,
and the re-run only shows the stored result again, so the work and its budget are spent once.
The "Summarising…" note is best effort: it never fails the job.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Literal, Unpack

from pydantic import BaseModel, Field

from app.audit.event import AuditContext, AuditDetail, EventName
from app.audit.sources import compact as compact_sources
from app.governance import gate as governance
from app.governance import model_choice, resolution
from app.governance.budget import Reservation
from app.governance.gate import Refusal
from app.model.errors import ModelError
from app.model.sanitize import links_in, sanitize_output
from app.runtime.services import Services
from app.slack import reading
from app.slack.messages import SourceMessage
from app.slack.reply import AskedPrivately, ReplyTo
from app.summaries import keys, targets
from app.summaries.grounding import Confidence, score
from app.summaries.mapreduce import EngineConfig, MapReduce, MapReduceRun
from app.summaries.prompts import PROMPT_VERSION
from app.summaries.summary import Summary, SummaryPoint
from app.summaries.surface import Finished, PrivateSurface, Progress, Surface
from app.summaries.targets import Target
from app.summaries.views import as_plain_text, describe_span, shared_message

log = logging.getLogger(__name__)

USE_CASE = "summarize"
# A hard cap on what one summary reads, so a runaway channel cannot exhaust a worker. The
# summary then says exactly which span it covers; nothing is dropped silently.
MAX_MESSAGES = 25_000
SUMMARY_TTL_S = 30 * 24 * 3600
Trigger = Literal["shortcut", "mention", "command", "dm", "pane"]


class SummarizeRequest(AskedPrivately):
    interaction_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    team_id: str
    target: Target
    trigger: Trigger


class StoredSummary(BaseModel):
    """What Share in thread needs later, kept beside the audit trail."""

    summary: Summary
    confidence: Confidence
    links: dict[str, str | None]
    title: str
    target: Target
    user_id: str
    team_id: str


class Session:
    """One summary request in flight: who to answer and what to audit."""

    def __init__(self, services: Services, req: SummarizeRequest, surface: Surface) -> None:
        self.services = services
        self.req = req
        self.surface = surface
        self.started = time.perf_counter()
        self.note: str | None = None  # set when the hard cap shortened what was read

    @property
    def context(self) -> AuditContext:
        return AuditContext(
            interaction_id=self.req.interaction_id,
            actor_id=self.req.user_id,
            team_id=self.req.team_id,
            channel_id=self.req.target.channel_id,
            use_case=USE_CASE,
        )

    async def audit(self, event: EventName, **detail: Unpack[AuditDetail]) -> None:
        await self.services.audit.record_in(self.context, event, **detail)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


async def run_summarize(
    services: Services, req: SummarizeRequest, surface: Surface | None = None
) -> None:
    """`surface`: where the person reads (default: privately, beside where they asked)."""
    surface = surface or PrivateSurface(services, req.reply_to)
    if await surface.resume(req.interaction_id):
        return  # a re-run after the result was made: shown again if it never got out
    async with governance.in_flight(services, req.team_id, req.user_id, req.interaction_id) as slot:
        await _run(services, req, slot, surface)


async def _run(services: Services, req: SummarizeRequest, slot: bool, surface: Surface) -> None:
    session = Session(services, req, surface)
    await surface.progress(Progress("checking_policy"))
    decision = await governance.decide(services, req.user_id, USE_CASE, req.target.channel_id)
    await session.audit(
        "requested",
        approval_status="not_required",
        rule=decision.full_rule,
        extra={"trigger": req.trigger, "target": req.target.model_dump()},
    )
    try:
        await governance.check(services, decision)
        if services.llm is not None:
            model_choice.model_for(services, decision)  # Refusal: never call a forbidden model
        # The limits before any Slack or model work: a flood is refused without a fetch.
        await governance.admit(
            services, req.team_id, req.user_id, decision, slot=slot, use_case=USE_CASE
        )
        # Reading starts alongside the access check; nothing read is used unless it passes.
        fetching = asyncio.ensure_future(_fetch(services, req))
        try:
            await _check_access(services, req)
        except Refusal:
            fetching.cancel()
            raise
        messages = cap(session, await fetching)
    except Refusal as refusal:
        await session.audit("refused", reason=refusal.code, rule=decision.full_rule)
        await surface.tell(refusal.message)
        return
    # On its way while the engine starts: the note never holds the work up.
    progress = asyncio.ensure_future(surface.progress(Progress("reading", len(messages))))
    try:
        await _summarize(services, session, decision, messages, progress)
    finally:
        if not progress.done():
            progress.cancel()


def cap(session: Session, messages: list[SourceMessage]) -> list[SourceMessage]:
    """Keep the most recent MAX_MESSAGES, and note the span the summary covers."""
    if len(messages) <= MAX_MESSAGES:
        return messages
    kept = messages[-MAX_MESSAGES:]
    session.note = (
        f"This conversation has {len(messages):,} messages; this summary covers the latest "
        f"{len(kept):,} ({describe_span(kept)})."
    )
    return kept


async def _check_access(services: Services, req: SummarizeRequest) -> None:
    try:
        await reading.check_access(services.slack, req.target.channel_id, req.user_id)
    except reading.Unreadable as exc:
        raise Refusal(exc.message, exc.code) from None


async def _fetch(services: Services, req: SummarizeRequest) -> list[SourceMessage]:
    return await targets.read_target(
        services.slack, req.target, "There is nothing to summarise there in that time window."
    )


def _engine(services: Services, decision: resolution.Decision) -> MapReduce:
    config = EngineConfig(
        engine=services.engine,
        model=governance.model_for(services, decision)
        if services.llm is not None
        else "extractive",
        redact=decision.redact_pii,
    )
    return MapReduce(services.redis, services.llm, config)


async def _summarize(
    services: Services,
    session: Session,
    decision: resolution.Decision,
    messages: list[SourceMessage],
    progress: asyncio.Future[None],
) -> None:
    """Run the engine while the progress note is on its way; answer after the note."""
    req = session.req
    engine = _engine(services, decision)
    conversation = f"{req.team_id}:{req.target.channel_id}:{req.target.thread_ts or 'history'}"
    try:
        run = await _with_budget(services, session, decision, engine, conversation, messages)
    except Refusal as refusal:
        await progress
        await session.audit("refused", reason=refusal.code, rule=decision.full_rule)
        await session.surface.tell(refusal.message)
        return
    except ModelError as exc:
        await progress
        await session.audit(
            "failed",
            reason=f"model: {exc.code}",
            rule=decision.full_rule,
            engine=engine.config.engine,
            model=engine.config.model,
            latency_ms=session.elapsed_ms(),
        )
        failed = f":warning: {exc.user_message} No summary was made. {exc.next_step}"
        await session.surface.tell(failed)
        return
    await progress
    await _deliver(services, session, decision, messages, run)


async def _with_budget(
    services: Services,
    session: Session,
    decision: resolution.Decision,
    engine: MapReduce,
    conversation: str,
    messages: list[SourceMessage],
) -> MapReduceRun:
    """Reserve the estimated tokens before the model runs; settle with the real usage after."""
    req = session.req
    held: list[Reservation] = []

    async def reserve(estimate: int) -> None:
        held.append(
            await governance.reserve(services, req.team_id, req.user_id, estimate, decision)
        )

    async def planned(parts: int, redacted: int) -> None:
        if redacted:
            await session.surface.progress(Progress("redacting", redacted))
        await session.surface.progress(Progress("summarising", parts))

    try:
        run = await engine.run(conversation, messages, before_model=reserve, on_plan=planned)
    except BaseException:
        for reservation in held:
            await services.budgets.settle(reservation, 0)
        raise
    for reservation in held:
        await services.budgets.settle(reservation, run.tokens_in + run.tokens_out)
    return run


def _clean(summary: Summary, messages: list[SourceMessage], names: dict[str, str]) -> Summary:
    """No pings, no links that were not in the sources, names instead of user IDs."""
    allowed = links_in([m.text for m in messages])

    def tidy(text: str) -> str:
        return sanitize_output(text, allowed, lambda uid: names.get(uid, "someone"))

    def point(p: SummaryPoint) -> SummaryPoint:
        owner = tidy(p.owner) if p.owner else None
        return p.model_copy(update={"text": tidy(p.text), "owner": owner})

    return summary.model_copy(
        update={
            "gist": tidy(summary.gist),
            "decisions": [point(p) for p in summary.decisions],
            "open_questions": [point(p) for p in summary.open_questions],
            "action_items": [point(p) for p in summary.action_items],
        }
    )


def finish(
    run: MapReduceRun, messages: list[SourceMessage], note: str | None
) -> tuple[Summary, Confidence, dict[str, SourceMessage]]:
    """The summary cleaned and scored against its sources (CPU only). `steward eval` scores
    exactly this, so what it measures is what people are shown."""
    names = {m.user_id: m.user_name for m in messages if m.user_id}
    summary = _clean(run.summary, messages, names)
    if note:
        summary = summary.model_copy(update={"truncated_note": note})
    by_ts = {m.ts: m for m in messages}
    return summary, score(summary, by_ts, run.logprobs or None, run.logprobs_note), by_ts


def _title(target: Target) -> str:
    what = "thread" if target.is_thread else "channel"
    return f"Summary of a {what} in <#{target.channel_id}>"


async def _deliver(
    services: Services,
    session: Session,
    decision: resolution.Decision,
    messages: list[SourceMessage],
    run: MapReduceRun,
) -> None:
    req = session.req
    # Sanitising against every source's links and grounding read the whole thread: CPU work
    # for a long one, so it runs in a thread while the event loop serves other jobs.
    summary, confidence, by_ts = await asyncio.to_thread(finish, run, messages, session.note)
    links = {ts: by_ts[ts].permalink for ts in summary.cited_ts() if ts in by_ts}
    span = describe_span(messages)
    # A long read is described (count, span, hash) and only the cited messages listed.
    sources, described = compact_sources([m.ts for m in messages], summary.cited_ts())
    latency = session.elapsed_ms()
    await session.audit(
        "generated",
        approval_status="not_required",
        rule=decision.full_rule,
        model=summary.model,
        engine=summary.engine,
        prompt_version=PROMPT_VERSION,
        sources=sources,
        output=as_plain_text(summary),
        confidence=confidence.value,
        tokens_in=run.tokens_in,
        tokens_out=run.tokens_out,
        latency_ms=latency,
        redactions=run.redactions,
        extra={
            **described,
            "span": span,
            "chunks": run.chunks,
            "cached_chunks": run.cached_chunks,
            "model_calls": run.model_calls,
            "model_rounds": run.rounds,
            "confidence": confidence.model_dump(exclude={"point_scores"}),
        },
    )
    title = _title(req.target)
    stored = StoredSummary(
        summary=summary,
        confidence=confidence,
        links=links,
        title=title,
        target=req.target,
        user_id=req.user_id,
        team_id=req.team_id,
    )
    await services.redis.set(
        keys.stored_summary(req.interaction_id), stored.model_dump_json(), ex=SUMMARY_TTL_S
    )
    finished = Finished(
        interaction_id=req.interaction_id,
        summary=summary,
        confidence=confidence,
        links=links,
        title=title,
        span=span,
        redactions=sum(run.redactions.values()),
    )
    await session.surface.show(finished)
    log.info(
        "summary delivered",
        extra={
            "interaction_id": req.interaction_id,
            "use_case": USE_CASE,
            "engine": summary.engine,
            "messages": len(messages),
            "chunks": run.chunks,
            "cached_chunks": run.cached_chunks,
            "tokens_in": run.tokens_in,
            "tokens_out": run.tokens_out,
            "latency_ms": round(latency, 1),
            "outcome": "generated",
        },
    )


class ShareRequest(BaseModel):
    interaction_id: str
    user_id: str
    team_id: str
    channel_id: str | None = None
    response_url: str | None = None


async def run_share(services: Services, req: ShareRequest) -> None:
    """Post a summary visibly in its thread, attributed, if policy allows it there."""
    raw = await services.redis.get(keys.stored_summary(req.interaction_id))
    if raw is None:
        await services.slack.tell(
            ReplyTo.of(req), "That summary has expired; run it again to share it."
        )
        return
    stored = StoredSummary.model_validate_json(raw)
    target = stored.target
    decision = await governance.decide(services, req.user_id, USE_CASE, target.channel_id)
    base: dict[str, Any] = {
        "interaction_id": req.interaction_id,
        "actor_id": req.user_id,
        "team_id": req.team_id,
        "channel_id": target.channel_id,
        "use_case": USE_CASE,
        "rule": decision.full_rule,
    }
    if req.user_id != stored.user_id or not decision.allowed:
        why = (
            "only the person who asked for it can share it" if decision.allowed else decision.reason
        )
        await services.audit.record(event="refused", reason="share: " + why, **base)
        await services.slack.tell(
            ReplyTo.of(req), f":no_entry: This summary can't be shared: {why}."
        )
        return
    name = await services.slack.user_name(req.user_id)
    message = shared_message(
        stored.summary, stored.confidence, stored.links, title=stored.title, requester_name=name
    )
    await services.audit.record(event="shared", output=as_plain_text(stored.summary), **base)
    await services.slack.post_message(
        target.channel_id, message.text, message.blocks, thread_ts=target.thread_ts
    )
