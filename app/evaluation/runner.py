"""Running the set through the production pipeline, case by case.

Summaries go through `MapReduce` (redaction, datamarked prompts, map-reduce, the model's output
contract) and `summarize.finish` (sanitising, grounding and confidence) — the functions a real
`/summarize` calls, nothing reimplemented. Cases run one at a time so each latency is one
summary's. The engine cache is scoped to the run (a second run measures the model again, not
the cache) and emptied at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from app.audit.pricing import PriceTable
from app.evaluation.cases import EvalCase
from app.evaluation.metrics import CaseScore, failed_case, score_case
from app.evaluation.report import EvalReport, overall
from app.governance.policy_schema import RequireEval
from app.model.errors import ModelError
from app.model.llm import LLM
from app.model.tokens import count_tokens
from app.summaries import keys as summary_keys
from app.summaries.mapreduce import EngineConfig, MapReduce
from app.summaries.prompts import PROMPT_VERSION
from app.summaries.summarize import finish

USE_CASES = ("summarize", "draft", "ask")
Progress = Callable[[int, int, CaseScore], None]


class Unavailable(Exception):
    """A use case this build cannot evaluate; the message says why."""


@dataclass(frozen=True)
class Subject:
    """What is evaluated: the engine, the model name, where it is served, and its client."""

    engine: str  # "openai" | "offline"
    model: str
    endpoint: str
    llm: LLM | None  # None: the offline engine


async def _summarize_case(
    redis: aioredis.Redis, subject: Subject, case: EvalCase, scope: str
) -> CaseScore:
    messages = case.sources()
    config = EngineConfig(
        engine=subject.engine,
        model=subject.model if subject.llm is not None else "extractive",
        redact=True,  # the default policy's redact_pii
        cache_scope=scope,
    )
    started = time.perf_counter()
    try:
        run = await MapReduce(redis, subject.llm, config).run(f"eval:{case.id}", messages)
    except ModelError as exc:
        return failed_case(case, exc.code, (time.perf_counter() - started) * 1000)
    summary, confidence, _ = finish(run, messages, None)
    return score_case(
        case,
        summary,
        confidence,
        latency_ms=(time.perf_counter() - started) * 1000,
        tokens_in=run.tokens_in,
        tokens_out=run.tokens_out,
    )


async def _drop_scope(redis: aioredis.Redis, scope: str) -> None:
    batch: list[str] = []
    async for key in redis.scan_iter(match=summary_keys.engine_cache_scope(scope), count=500):
        batch.append(key)
        if len(batch) >= 500:
            await redis.delete(*batch)
            batch.clear()
    if batch:
        await redis.delete(*batch)


def prompt_version(use_case: str) -> str:
    if use_case == "summarize":
        return PROMPT_VERSION
    raise Unavailable(_unavailable(use_case))


def _unavailable(use_case: str) -> str:
    if use_case == "ask":
        return (
            "evaluating the ask use case is not available in this build yet (not wired to "
            "app/ask/); the set's follow-up questions are ready for it"
        )
    return f"the {use_case} use case cannot be evaluated in this build yet"


async def run_eval(
    redis: aioredis.Redis,
    subject: Subject,
    cases: Sequence[EvalCase],
    *,
    use_case: str,
    eval_set_version: str,
    thresholds: RequireEval,
    prices: PriceTable,
    progress: Progress | None = None,
) -> EvalReport:
    version = prompt_version(use_case)  # Unavailable before any work
    count_tokens("warm up")  # the tokenizer loads once, outside the first case's latency
    scope = f"eval-{uuid.uuid4().hex[:12]}"
    scores: list[CaseScore] = []
    try:
        for case in cases:
            scores.append(await _summarize_case(redis, subject, case, scope))
            if progress is not None:
                progress(len(scores), len(cases), scores[-1])
    finally:
        await _drop_scope(redis, scope)
    return EvalReport(
        model=subject.model,
        engine=subject.engine,
        endpoint=subject.endpoint,
        use_case=use_case,
        prompt_version=version,
        eval_set_version=eval_set_version,
        thresholds=thresholds,
        scores=overall(scores, subject.model, subject.engine, prices),
        cases=scores,
    )
