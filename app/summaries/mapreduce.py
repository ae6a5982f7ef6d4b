"""Summarise any number of messages: stable chunks, cached chunk summaries, a concurrent map and
a reduce tree whose nodes are cached too.

Rounds: every chunk is in flight at once (up to `concurrency`), then the reduce tree merges
`fan_in` parts per call, level by level (app/summaries/reduce_tree.py). With 64k-token chunks a
5,000-message thread is 2–4 chunks: one map round and one merge, two model rounds;
20,000 messages need one more merge level, three rounds.

Incremental by construction: the chunk plan of a conversation (which messages each chunk held,
its content hash, and the root the conversation was last summarised with) is stored in Redis.
When the same conversation is summarised again, the planned chunks are kept as they were and
only the messages after them are chunked; chunk summaries are cached by content hash and merges
by the hash of their inputs (with the prompt version and model in every key). A few new chunks
extend the last root — one merge of its summary and the new replies — so 20 new replies cost
about the same at 5,000 messages as at 20,000.

The CPU-heavy part — redaction, rendering, token counting and chunking — runs in a worker
thread, so the event loop keeps serving the worker's other jobs meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis

from app.model.datamark import Boundary, assign_ids, boundary_line
from app.model.llm import LLM
from app.model.prompt import Prompt
from app.model.redact import Redactor
from app.slack.messages import SourceMessage
from app.summaries import keys, reduce_tree
from app.summaries.chunking import Chunk, chunk_messages
from app.summaries.offline_engine import reduce_offline, summarize_offline
from app.summaries.prompts import PROMPT_VERSION, map_prompt, reduce_prompt
from app.summaries.reduce_tree import Node
from app.summaries.summary import Summary, SummaryOutput, summary_from_output

CACHE_TTL_S = 14 * 24 * 3600
MAX_TOKENS = 1200  # one chunk's or one reduce's answer
PROMPT_OVERHEAD_TOKENS = 600 + MAX_TOKENS  # the system prompt (~550) plus the answer
PART_TOKENS = 500  # what one partial summary costs in a merge's input, at most in practice
# A last chunk this small (new replies, or a thread's short remainder) is read by its parent's
# merge directly instead of being summarised first: one model call and one round less.
FOLD_TOKENS = 4000
# New chunks that extend the previous run's root (one merge) rather than a balanced tree.
MAX_EXTENSION_CHUNKS = 3


@dataclass
class EngineConfig:
    engine: str  # "openai" | "offline"
    model: str  # the model the policy resolved for this use case and channel: every call uses it
    # Few, large chunks, all in flight at once: a 5,000-message thread is ~3 chunks, 20,000
    # messages ~11 (of 128k-token context windows), so the map is one round of model calls.
    chunk_tokens: int = 64_000
    concurrency: int = 16
    # A merge reads at most this many parts (and what the context window holds): wide enough
    # for 20,000 messages in two merge levels, narrow enough that re-merging a tree's right
    # edge after new replies stays a small fraction of the first run.
    fan_in: int = 8
    context_window: int = 128_000
    redact: bool = True
    # Keeps these runs' cache entries apart from everyone else's (`steward eval` measures fresh
    # model calls, then drops its entries); "" for the shared cache.
    cache_scope: str = ""


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
    rounds: int = 0  # sequential model rounds: map waves plus merge levels that called it
    cached_nodes: int = 0


@dataclass
class _PlanEntry:
    first_ts: str
    last_ts: str
    count: int
    hash: str


@dataclass
class _Prepared:
    """What the CPU step hands back: redacted messages, their ids, the chunks."""

    ids: dict[str, str]
    chunks: list[Chunk]
    redactions: dict[str, int]
    previous_root: tuple[str, int] | None  # the last run's root and how many chunks it covered


class _Stale(Exception):
    """An earlier root named by the plan is no longer cached."""


class MapReduce:
    def __init__(
        self,
        redis: aioredis.Redis,
        llm: LLM | None,
        config: EngineConfig,
        *,
        cpu_step: Callable[[], None] | None = None,
    ) -> None:
        self.redis = redis
        self.llm = llm
        self.config = config
        # Runs first inside the CPU step's thread: tests hold it there to show the loop runs on.
        self._cpu_step = cpu_step

    def _key(self, kind: str, name: str) -> str:
        scoped = f"{self.config.cache_scope}:{name}" if self.config.cache_scope else name
        return keys.engine_cache(
            kind, self.config.engine, self.config.model, PROMPT_VERSION, scoped
        )

    @property
    def fan_in(self) -> int:
        return reduce_tree.fan_in_for(
            self.config.context_window, PROMPT_OVERHEAD_TOKENS, PART_TOKENS, self.config.fan_in
        )

    async def run(
        self,
        conversation: str,
        messages: Sequence[SourceMessage],
        before_model: Callable[[int], Awaitable[None]] | None = None,
        on_plan: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> MapReduceRun:
        """Summarise `messages`. `before_model(estimated_tokens)` runs once, before the first
        model call, with an estimate of the tokens the uncached work will use (for budgets).
        `on_plan(parts, redacted)` runs once the text is redacted and chunked (progress)."""
        plan_key = self._key("plan", conversation)
        stored = await self.redis.get(plan_key)
        prepared = await asyncio.to_thread(self._prepare, messages, stored)
        chunks = prepared.chunks
        if on_plan is not None:
            await on_plan(len(chunks), sum(prepared.redactions.values()))
        run = MapReduceRun(
            summary=Summary(gist="", engine=self.config.engine, model=self.config.model),
            chunks=len(chunks),
            cached_chunks=0,
            truncated=sum(1 for c in chunks if c.truncated),
        )
        root = self._tree(chunks, prepared.previous_root)
        if root is None:
            run.redactions = prepared.redactions
            return run
        try:
            known, to_map, to_merge = await self._needed(root)
        except _Stale:
            root = reduce_tree.build([c.content_hash for c in chunks], self.fan_in)
            assert root is not None
            known, to_map, to_merge = await self._needed(root)
        await self._save_plan(plan_key, chunks, root.name)
        folded = self._fold(chunks, to_map, to_merge)
        run.cached_chunks = len(chunks) - len(to_map) - len(folded)  # not sent to the model
        run.cached_nodes = sum(
            1 for n in reduce_tree.walk(root) if not n.is_leaf and n.name in known
        )
        if before_model is not None and self.llm is not None:
            await before_model(self._estimate(chunks, to_map, to_merge, folded))
        await self._map(chunks, to_map, known, prepared.ids, run)
        await self._merge(to_merge, known, folded, prepared.ids, run)
        run.summary = known[root.name]
        run.redactions = prepared.redactions
        return run

    def _tree(self, chunks: Sequence[Chunk], previous: tuple[str, int] | None) -> Node | None:
        """An extension of the previous root when only a few chunks were added after the ones
        it covered (all kept as they were), else a balanced tree."""
        names = [c.content_hash for c in chunks]
        if previous is not None:
            name, covered = previous
            if covered == len(names):
                return Node(name=name, children=()) if covered > 1 else Node(names[0], leaf=0)
            if covered > 1 and len(names) - covered <= MAX_EXTENSION_CHUNKS:
                return reduce_tree.extend(name, names[covered:], covered)
        return reduce_tree.build(names, self.fan_in)

    async def _save_plan(self, key: str, chunks: Sequence[Chunk], root: str) -> None:
        entries = [
            {"first_ts": c.first_ts, "last_ts": c.last_ts, "count": len(c.messages), "hash": h}
            for c in chunks
            if (h := c.content_hash)
        ]
        plan = {"chunks": entries, "root": root}
        await self.redis.set(key, json.dumps(plan), ex=CACHE_TTL_S)

    # ---- the CPU step (a worker thread) -----------------------------------------------------

    def _prepare(self, messages: Sequence[SourceMessage], stored: str | bytes | None) -> _Prepared:
        if self._cpu_step is not None:
            self._cpu_step()
        # Redact once, in thread order, before anything is rendered: placeholder numbering is
        # then the same on every run (stable chunk hashes) and each value is counted once. The
        # offline engine reads the originals, since nothing leaves the machine.
        redactor = Redactor() if self.config.redact and self.llm is not None else None
        clean = redactor.redact_messages(messages) if redactor is not None else list(messages)
        ids = assign_ids(clean)

        def render(message: SourceMessage) -> str:
            return boundary_line(message, ids[message.ts])

        plan = json.loads(stored) if stored else {"chunks": [], "root": None}
        chunks, kept = self._plan(clean, render, [_PlanEntry(**e) for e in plan["chunks"]])
        # The last root stands for the stored chunks only if every one of them was kept.
        previous = (plan["root"], kept) if plan["root"] and kept == len(plan["chunks"]) else None
        counts = dict(redactor.counts) if redactor is not None else {}
        return _Prepared(ids, chunks, counts, previous)

    def _plan(
        self,
        messages: Sequence[SourceMessage],
        render: Callable[[SourceMessage], str],
        stored: list[_PlanEntry],
    ) -> tuple[list[Chunk], int]:
        """Keep the stored plan's unchanged chunks; chunk only what comes after them. Returns
        the chunks and how many of them were kept."""
        model = self.config.model
        # A chunk and its prompt fit the context window, with room for the block's delimiters.
        room = self.config.context_window - PROMPT_OVERHEAD_TOKENS - 100
        budget = max(1, min(self.config.chunk_tokens, room))
        kept: list[Chunk] = []
        pos = 0
        for entry in stored:
            segment = messages[pos : pos + entry.count]
            if len(segment) < entry.count or segment[0].ts != entry.first_ts:
                break
            again = chunk_messages(segment, budget, render, model)
            if len(again) != 1 or again[0].content_hash != entry.hash:
                break
            kept.append(again[0])
            pos += entry.count
        return kept + chunk_messages(messages[pos:], budget, render, model), len(kept)

    # ---- what the cache already holds -------------------------------------------------------

    async def _needed(self, root: Node) -> tuple[dict[str, Summary], list[Node], list[Node]]:
        """Top-down through the tree: a cached node needs nothing below it. Returns the cached
        summaries by name, the leaves to map and the nodes to merge (children first)."""
        known: dict[str, Summary] = {}
        to_map: list[Node] = []
        to_merge: list[Node] = []
        level = [root]
        while level:
            names = [self._key("chunk" if n.is_leaf else "node", n.name) for n in level]
            hits = cast(list[str | None], await self.redis.mget(names))
            below: list[Node] = []
            for node, hit in zip(level, hits, strict=True):
                if hit is not None:
                    known[node.name] = Summary.model_validate_json(hit)
                elif node.is_leaf:
                    to_map.append(node)
                elif not node.children:
                    raise _Stale(node.name)
                else:
                    to_merge.append(node)
                    below.extend(node.children)
            level = below
        to_merge.sort(key=reduce_tree.depth)
        return known, to_map, to_merge

    @staticmethod
    def _fold(
        chunks: Sequence[Chunk], to_map: list[Node], to_merge: list[Node]
    ) -> dict[str, Chunk]:
        """{parent's name: last chunk} when the last chunk is small, still to summarise and
        its parent still to merge: the merge then reads its messages itself (and it is taken
        out of `to_map`)."""
        last = next((n for n in to_map if n.leaf == len(chunks) - 1), None)
        if last is None or chunks[cast(int, last.leaf)].tokens > FOLD_TOKENS:
            return {}
        parent = next((n for n in to_merge if n.children[-1] is last), None)
        if parent is None:
            return {}
        to_map.remove(last)
        return {parent.name: chunks[cast(int, last.leaf)]}

    @staticmethod
    def _estimate(
        chunks: Sequence[Chunk],
        to_map: list[Node],
        to_merge: list[Node],
        folded: dict[str, Chunk],
    ) -> int:
        """Prompt plus expected output tokens of the calls the cache cannot spare."""
        maps = sum(chunks[cast(int, n.leaf)].tokens + PROMPT_OVERHEAD_TOKENS for n in to_map)
        merges = sum(len(n.children) * PART_TOKENS + PROMPT_OVERHEAD_TOKENS for n in to_merge)
        return maps + merges + sum(chunk.tokens for chunk in folded.values())

    # ---- map ------------------------------------------------------------------------------

    async def _map(
        self,
        chunks: Sequence[Chunk],
        leaves: list[Node],
        known: dict[str, Summary],
        ids: dict[str, str],
        run: MapReduceRun,
    ) -> None:
        if not leaves:
            return
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(node: Node) -> None:
            chunk = chunks[cast(int, node.leaf)]
            async with gate:
                summary = await self._summarize_chunk(chunk, ids, run)
            known[node.name] = summary
            await self.redis.set(
                self._key("chunk", node.name), summary.model_dump_json(), ex=CACHE_TTL_S
            )

        await asyncio.gather(*(one(node) for node in leaves))
        if self.llm is not None:
            run.rounds += -(-len(leaves) // self.config.concurrency)

    async def _summarize_chunk(
        self, chunk: Chunk, ids: dict[str, str], run: MapReduceRun
    ) -> Summary:
        if self.llm is None:
            return summarize_offline(chunk.messages)
        id_to_ts = {ids[m.ts]: m.ts for m in chunk.messages}
        note = _note(chunk)
        prompt = map_prompt(Boundary.fresh().wrap(chunk.text))
        return await self._ask(prompt, id_to_ts, run, note)

    # ---- reduce tree ----------------------------------------------------------------------

    async def _merge(
        self,
        nodes: list[Node],
        known: dict[str, Summary],
        folded: dict[str, Chunk],
        ids: dict[str, str],
        run: MapReduceRun,
    ) -> None:
        """Merge `nodes` level by level (children first); each merged node is cached."""
        for level in sorted({reduce_tree.depth(n) for n in nodes}):
            todo = [n for n in nodes if reduce_tree.depth(n) == level]

            async def one(node: Node) -> None:
                newest = folded.get(node.name)
                children = node.children[:-1] if newest is not None else node.children
                parts = [known[c.name] for c in children]
                summary = await self._reduce_group(parts, ids, run, newest)
                known[node.name] = summary
                key = self._key("node", node.name)
                await self.redis.set(key, summary.model_dump_json(), ex=CACHE_TTL_S)

            await asyncio.gather(*(one(node) for node in todo))
            if self.llm is not None:
                run.rounds += 1

    async def _reduce_group(
        self,
        group: list[Summary],
        ids: dict[str, str],
        run: MapReduceRun,
        newest: Chunk | None = None,
    ) -> Summary:
        if newest is None and len(group) == 1:
            return group[0]
        if self.llm is None:
            return reduce_offline([*group, summarize_offline(newest.messages)] if newest else group)
        id_to_ts = {mid: ts for ts, mid in ids.items()}
        cited = {ts for summary in group for ts in summary.cited_ts()}
        cited |= {m.ts for m in newest.messages} if newest is not None else set()
        notes = [s.truncated_note for s in group] + ([_note(newest)] if newest else [])
        note = next((n for n in notes if n), None)
        prompt = reduce_prompt(group, ids, newest=newest.text if newest is not None else "")
        summary = await self._ask(
            prompt, {m: t for m, t in id_to_ts.items() if t in cited}, run, note
        )
        spans = [s.covered for s in group if s.covered]
        if newest is not None:
            spans.append((newest.first_ts, newest.last_ts))
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


def _note(chunk: Chunk) -> str | None:
    return "A message longer than the model's budget was shortened." if chunk.truncated else None
