"""Answering one question from a conversation's messages: redact, select, prompt, ask the model
(whole, or streamed), then sanitise and ground what it said.

The CPU part (redaction, ids, selection, rendering) runs in a worker thread, off the event loop,
as for summaries. Ids number the whole conversation (`M1` is its first message), so an id means
the same message whatever was selected; the model may cite only the selected ones.

Grounding is the summaries' (app/summaries/grounding.py): the answer is scored as one point
citing its sources. An answer whose citations do not support it (no valid citation, or under
half of its content terms found in the cited messages) is not shown as an answer: the person
is told the messages don't say, and the audit records that the model's answer was refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from app.ask.answer import NOT_IN_MESSAGES, AskAnswer, AskOutput, resolve_sources, span
from app.ask.offline import ENGINE as OFFLINE_ENGINE
from app.ask.offline import answer_offline
from app.ask.prompts import ask_prompt
from app.ask.selection import Selection, select
from app.ask.streamed import AnswerField, SafeText
from app.model.datamark import assign_ids, boundary_line
from app.model.errors import ModelError
from app.model.llm import LLM
from app.model.prompt import Prompt
from app.model.redact import Redactor
from app.model.sanitize import links_in, sanitize_output
from app.model.streaming import ModelStream
from app.model.structured import AnswerError, read_answer
from app.slack.messages import SourceMessage
from app.summaries.grounding import Confidence, score
from app.summaries.summary import Summary, SummaryPoint

MAX_TOKENS = 600  # an answer is a few sentences
PROMPT_OVERHEAD_TOKENS = 700 + MAX_TOKENS  # the system prompt (~520) plus the answer

Delta = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Prepared:
    """What the CPU step hands back."""

    question: str  # redacted when the text leaves for a model
    selection: Selection
    id_to_ts: dict[str, str]  # the selected messages' ids
    prompt: Prompt
    redactions: dict[str, int]

    @property
    def estimate(self) -> int:
        """Tokens the model call may use, for the budget's reservation."""
        return self.selection.tokens + PROMPT_OVERHEAD_TOKENS


@dataclass
class AskRun:
    """One answer and what it cost."""

    answer: AskAnswer
    confidence: Confidence | None
    prepared: Prepared
    tokens_in: int = 0
    tokens_out: int = 0
    model_calls: int = 0
    logprobs: list[float] = field(default_factory=list)
    logprobs_note: str | None = None
    streamed: bool = False


def prepare(question: str, messages: Sequence[SourceMessage], *, redact: bool) -> Prepared:
    """Redact (the question too: people paste addresses), number, select, render."""
    redactor = Redactor() if redact else None
    clean = redactor.redact_messages(messages) if redactor is not None else list(messages)
    asked = redactor.redact(question) if redactor is not None else question
    ids = assign_ids(clean)

    def render(message: SourceMessage) -> str:
        return boundary_line(message, ids[message.ts])

    chosen = select(asked, clean, render)
    lines = "\n".join(render(m) for m in chosen.messages)
    id_to_ts = {ids[m.ts]: m.ts for m in chosen.messages}
    counts = dict(redactor.counts) if redactor is not None else {}
    return Prepared(asked, chosen, id_to_ts, ask_prompt(lines, asked), counts)


class Engine:
    """The model (or, without one, the offline engine) answering questions."""

    def __init__(self, llm: LLM | None, model: str, *, redact: bool = True) -> None:
        self.llm = llm
        self.model = model
        self.redact = redact and llm is not None  # nothing leaves the machine offline

    @property
    def name(self) -> str:
        return "openai" if self.llm is not None else OFFLINE_ENGINE

    async def prepare(self, question: str, messages: Sequence[SourceMessage]) -> Prepared:
        return await asyncio.to_thread(prepare, question, messages, redact=self.redact)

    async def answer(
        self,
        prepared: Prepared,
        messages: Sequence[SourceMessage],
        on_delta: Delta | None = None,
    ) -> AskRun:
        """The answer; with `on_delta`, the model's answer text streams to it, sanitised, as it
        is written (a `ModelError` midway comes after what was shown)."""
        if self.llm is None:
            return await asyncio.to_thread(self._offline, prepared, messages)
        if on_delta is None:
            found = await self.llm.structured(
                prepared.prompt, AskOutput, model=self.model, max_tokens=MAX_TOKENS
            )
            done = found.completion
            output = found.value
            tokens_in, tokens_out, calls = done.tokens_in, done.tokens_out, done.calls
            logprobs, note, model, streamed = done.logprobs, done.logprobs_note, done.model, False
        else:
            output, stream = await self._streamed(prepared, messages, on_delta)
            done_s = stream.completion
            assert done_s is not None
            tokens_in, tokens_out, calls = done_s.tokens_in, done_s.tokens_out, done_s.calls
            logprobs, note, model, streamed = (
                done_s.logprobs,
                done_s.logprobs_note,
                done_s.model,
                True,
            )
        answer, confidence = finish(output, prepared, messages, model, logprobs, note)
        return AskRun(
            answer,
            confidence,
            prepared,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            model_calls=calls,
            logprobs=list(logprobs or []),
            logprobs_note=note,
            streamed=streamed,
        )

    async def _streamed(
        self, prepared: Prepared, messages: Sequence[SourceMessage], on_delta: Delta
    ) -> tuple[AskOutput, ModelStream]:
        assert self.llm is not None
        stream = ModelStream(
            self.llm, prepared.prompt, model=self.model, max_tokens=MAX_TOKENS, output=AskOutput
        )
        field_ = AnswerField()
        safe = safe_text(messages)
        async for delta in stream:
            text = field_.feed(delta)
            if text and field_.answered is not False and (shown := safe.feed(text)):
                await on_delta(shown)
        if field_.answered is not False and (rest := safe.flush()):
            await on_delta(rest)
        try:
            return read_answer(stream.partial, AskOutput), stream
        except AnswerError:
            raise ModelError.of("unreadable", "bad_output") from None

    def _offline(self, prepared: Prepared, messages: Sequence[SourceMessage]) -> AskRun:
        answer = answer_offline(prepared.question, messages)
        confidence = _confidence(answer, messages, None, None) if answer.answered else None
        return AskRun(answer, confidence, prepared)


def safe_text(messages: Sequence[SourceMessage]) -> SafeText:
    names = {m.user_id: m.user_name for m in messages if m.user_id}
    return SafeText(links_in([m.text for m in messages]), lambda uid: names.get(uid, "someone"))


def finish(
    output: AskOutput,
    prepared: Prepared,
    messages: Sequence[SourceMessage],
    model: str,
    logprobs: Sequence[float] | None,
    note: str | None,
) -> tuple[AskAnswer, Confidence | None]:
    """The model's answer sanitised, its citations mapped to ts, and grounded."""
    sources, dropped = resolve_sources(output.sources, prepared.id_to_ts)
    names = {m.user_id: m.user_name for m in messages if m.user_id}
    allowed = links_in([m.text for m in messages])
    flat = " ".join(output.answer.split())
    text = sanitize_output(flat, allowed, lambda uid: names.get(uid, "someone"))
    base = AskAnswer(
        answered=False,
        text=NOT_IN_MESSAGES,
        engine="openai",
        model=model,
        covered=span(prepared.id_to_ts),
        dropped_sources=dropped,
    )
    if not output.answered or not text:
        return base, None
    answer = base.model_copy(update={"answered": True, "text": text, "sources": sources})
    confidence = _confidence(answer, messages, logprobs, note)
    if not sources or confidence.unsupported_points:
        refused = answer.model_copy(
            update={"answered": False, "text": NOT_IN_MESSAGES, "unsupported": True}
        )
        return refused, confidence
    return answer, confidence


def _confidence(
    answer: AskAnswer,
    messages: Sequence[SourceMessage],
    logprobs: Sequence[float] | None,
    note: str | None,
) -> Confidence:
    """The summaries' confidence, with the answer as the one point it scores."""
    point = SummaryPoint(text=answer.text, sources=answer.sources)
    as_summary = Summary(gist="", decisions=[point], engine=answer.engine, model=answer.model)
    cited = set(answer.sources)
    by_ts = {m.ts: m for m in messages if m.ts in cited}
    return score(as_summary, by_ts, logprobs or None, note)
