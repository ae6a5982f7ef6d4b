"""Summarise any number of messages: stable chunks, cached chunk summaries, a bounded-concurrency
map and a reduce that keeps citations.

Incremental by construction: the chunk plan of a conversation (which messages each chunk held
and its content hash) is stored in Redis. When the same conversation is summarised again, the
planned chunks whose text is unchanged are kept as they were, their summaries come from the
cache (keyed by content hash, prompt version and model), and only the messages after them are
chunked and sent to the model — so 20 new replies cost 20 replies plus the reduce.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis

from app.model.datamark import assign_ids, render_message, wrap_messages
from app.model.llm import LLM
from app.model.prompt import Prompt
from app.model.redact import Redactor
from app.slack.messages import SourceMessage
from app.summaries import keys
from app.summaries.chunking import Chunk, chunk_messages
from app.summaries.offline_engine import reduce_offline, summarize_offline
from app.summaries.prompts import PROMPT_VERSION, map_prompt, reduce_prompt
from app.summaries.summary import Summary, SummaryOutput, summary_from_output

CACHE_TTL_S = 14 * 24 * 3600
MAX_REDUCE_PARTS = 24  # more partial summaries than this are reduced in rounds
MAX_TOKENS = 1200  # one chunk's or one reduce's answer
PROMPT_OVERHEAD_TOKENS = 600 + MAX_TOKENS  # the system prompt (~550) plus the answer


@dataclass
class EngineConfig:
    engine: str  # "openai" | "offline"
    model: str  # the model the policy resolved for this use case and channel: every call uses it
    # Few, large chunks, all in flight at once: a 5,000-message thread is ~9 chunks, so the
    # summary takes about two model calls of wall time (map, then reduce).
    chunk_tokens: int = 32_000
    concurrency: int = 12
    redact: bool = True


@dataclass
class MapReduceRun:
    summary: Summary
    chunks: int
    cached_chunks: int
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    logprobs: list[float] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    # Why confidence cannot use token probabilities (a reasoning model...), when it cannot.
    logprobs_note: str | None = None


@dataclass
class _PlanEntry:
    first_ts: str
    last_ts: str
    count: int
    hash: str


class MapReduce:
    def __init__(self, redis: aioredis.Redis, llm: LLM | None, config: EngineConfig) -> None:
        self.redis = redis
        self.llm = llm
        self.config = config

    def _key(self, kind: str, name: str) -> str:
        return keys.engine_cache(kind, self.config.engine, self.config.model, PROMPT_VERSION, name)

    async def run(
        self,
        conversation: str,
        messages: Sequence[SourceMessage],
        before_model: Callable[[int], Awaitable[None]] | None = None,
    ) -> MapReduceRun:
        """Summarise `messages`. `before_model(estimated_tokens)` runs once, before the first
        model call, with an estimate of the tokens the uncached work will use (for budgets)."""
        # Redact once, in thread order, before anything is rendered: placeholder numbering is
        # then the same on every run (stable chunk hashes) and each value is counted once. The
        # offline engine reads the originals, since nothing leaves the machine.
        redactor = Redactor() if self.config.redact and self.llm is not None else None
        clean = redactor.redact_messages(messages) if redactor is not None else list(messages)
        ids = assign_ids(clean)

        def render(message: SourceMessage) -> str:
            return render_message(message, ids[message.ts])

        chunks = await self._plan(conversation, clean, render)
        run = MapReduceRun(
            summary=Summary(gist="", engine=self.config.engine, model=self.config.model),
            chunks=len(chunks),
            cached_chunks=0,
            truncated=sum(1 for c in chunks if c.truncated),
        )
        # One read of the chunk cache serves both the budget estimate and the map.
        keys = [self._key("chunk", chunk.content_hash) for chunk in chunks]
        cached = cast(list[str | None], await self.redis.mget(keys)) if keys else []
        if before_model is not None and self.llm is not None:
            await before_model(self._estimate(chunks, cached))
        parts = await self._map(chunks, cached, ids, run)
        run.summary = await self._reduce(parts, ids, run)
        run.redactions = dict(redactor.counts) if redactor is not None else {}
        return run

    # ---- chunk plan -----------------------------------------------------------------------

    async def _plan(
        self,
        conversation: str,
        messages: Sequence[SourceMessage],
        render: Callable[[SourceMessage], str],
    ) -> list[Chunk]:
        """Keep the stored plan's unchanged chunks; chunk only what comes after them."""
        budget, model = self.config.chunk_tokens, self.config.model
        stored = await self.redis.get(self._key("plan", conversation))
        kept: list[Chunk] = []
        pos = 0
        for entry in [_PlanEntry(**e) for e in json.loads(stored)] if stored else []:
            segment = messages[pos : pos + entry.count]
            if len(segment) < entry.count or segment[0].ts != entry.first_ts:
                break
            again = chunk_messages(segment, budget, render, model)
            if len(again) != 1 or again[0].content_hash != entry.hash:
                break
            kept.append(again[0])
            pos += entry.count
        chunks = kept + chunk_messages(messages[pos:], budget, render, model)
        plan = [
            {"first_ts": c.first_ts, "last_ts": c.last_ts, "count": len(c.messages), "hash": h}
            for c in chunks
            if (h := c.content_hash)
        ]
        await self.redis.set(self._key("plan", conversation), json.dumps(plan), ex=CACHE_TTL_S)
        return chunks

    @staticmethod
    def _estimate(chunks: Sequence[Chunk], cached: Sequence[str | None]) -> int:
        """Prompt plus expected output tokens of the chunks not in the cache, and the reduce."""
        uncached = sum(
            chunk.tokens + PROMPT_OVERHEAD_TOKENS
            for chunk, hit in zip(chunks, cached, strict=True)
            if hit is None
        )
        reduces = 1 + len(chunks) // MAX_REDUCE_PARTS if len(chunks) > 1 else 0
        # The reduce reads every chunk summary: roughly one answer's worth per chunk.
        return uncached + reduces * PROMPT_OVERHEAD_TOKENS + (len(chunks) if reduces else 0) * 400

    # ---- map ------------------------------------------------------------------------------

    async def _map(
        self,
        chunks: Sequence[Chunk],
        cached: Sequence[str | None],
        ids: dict[str, str],
        run: MapReduceRun,
    ) -> list[Summary]:
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(chunk: Chunk, hit: str | None) -> Summary:
            if hit is not None:
                run.cached_chunks += 1
                return Summary.model_validate_json(hit)
            async with gate:
                summary = await self._summarize_chunk(chunk, ids, run)
            key = self._key("chunk", chunk.content_hash)
            await self.redis.set(key, summary.model_dump_json(), ex=CACHE_TTL_S)
            return summary

        pairs = zip(chunks, cached, strict=True)
        return list(await asyncio.gather(*(one(chunk, hit) for chunk, hit in pairs)))

    async def _summarize_chunk(
        self, chunk: Chunk, ids: dict[str, str], run: MapReduceRun
    ) -> Summary:
        if self.llm is None:
            return summarize_offline(chunk.messages)
        id_to_ts = {ids[m.ts]: m.ts for m in chunk.messages}
        note = (
            "A message longer than the model's budget was shortened." if chunk.truncated else None
        )
        prompt = map_prompt(wrap_messages(chunk.text))
        return await self._ask(prompt, id_to_ts, run, note)

    # ---- reduce ---------------------------------------------------------------------------

    async def _reduce(
        self, parts: list[Summary], ids: dict[str, str], run: MapReduceRun
    ) -> Summary:
        if len(parts) == 1:
            return parts[0]
        while len(parts) > 1:
            groups = [
                parts[i : i + MAX_REDUCE_PARTS] for i in range(0, len(parts), MAX_REDUCE_PARTS)
            ]
            parts = list(await asyncio.gather(*(self._reduce_group(g, ids, run) for g in groups)))
        return parts[0]

    async def _reduce_group(
        self, group: list[Summary], ids: dict[str, str], run: MapReduceRun
    ) -> Summary:
        if len(group) == 1:
            return group[0]
        if self.llm is None:
            return reduce_offline(group)
        id_to_ts = {mid: ts for ts, mid in ids.items()}
        cited = {ts for summary in group for ts in summary.cited_ts()}
        note = next((s.truncated_note for s in group if s.truncated_note), None)
        prompt = reduce_prompt(group, ids)
        summary = await self._ask(
            prompt, {m: t for m, t in id_to_ts.items() if t in cited}, run, note
        )
        spans = [s.covered for s in group if s.covered]
        covered = (spans[0][0], spans[-1][1]) if spans else None
        return summary.model_copy(update={"covered": covered})

    async def _ask(
        self,
        prompt: Prompt,
        id_to_ts: dict[str, str],
        run: MapReduceRun,
        note: str | None,
    ) -> Summary:
        """One model call with the policy's model; the answer validated as a `SummaryOutput`
        (a ModelError when it cannot be, after app/model/llm.py's repair attempt)."""
        assert self.llm is not None
        answer = await self.llm.structured(
            prompt,
            SummaryOutput,
            model=self.config.model,
            max_tokens=MAX_TOKENS,
        )
        completion = answer.completion
        run.model_calls += 1
        run.tokens_in += completion.tokens_in
        run.tokens_out += completion.tokens_out
        run.logprobs.extend(completion.logprobs or [])
        run.logprobs_note = run.logprobs_note or completion.logprobs_note
        return summary_from_output(
            answer.value, id_to_ts, engine="openai", model=completion.model, truncated_note=note
        )
