"""The map-reduce engine against real Redis and the loopback model: model rounds (counted from
what the model recorded, with its `hold` proving which calls were in flight together), the
reduce tree's reuse on an incremental re-summary, and the CPU step off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.model.datamark import assign_ids, boundary_line
from app.model.llm import LLM
from app.model.redact import Redactor
from app.sandbox.model_answers import ModelRequest
from app.sandbox.openai_compat import ModelServer
from app.slack.messages import SourceMessage
from app.summaries.chunking import Chunk, chunk_messages
from app.summaries.mapreduce import FOLD_TOKENS, EngineConfig, MapReduce, MapReduceRun

TOPICS = ["pricing", "launch date", "migration", "support rota", "docs", "QA", "legal review"]
PEOPLE = ["Priya Raman", "Marcus Chen", "Dana Whitfield", "Sam Okafor", "Lee Park", "Ana Ruiz"]


def thread(count: int, start: int = 1, salt: str = "") -> list[SourceMessage]:
    return [
        SourceMessage(
            ts=f"{1712000000 + n}.000100",
            user_id=f"U{n % len(PEOPLE)}",
            user_name=PEOPLE[n % len(PEOPLE)],
            text=f"{salt}Update {n} on the {TOPICS[n % len(TOPICS)]} track: item {n * 7 % 101} "
            + ("is decided, we'll go with option B." if n % 50 == 0 else "is still open?"),
        )
        for n in range(start, start + count)
    ]


def chunk_list(messages: list[SourceMessage], config: EngineConfig) -> list[Chunk]:
    """The thread's chunks, worked out with the chunker's public contract."""
    clean = Redactor().redact_messages(messages)
    ids = assign_ids(clean)
    render = lambda m: boundary_line(m, ids[m.ts])  # noqa: E731
    return chunk_messages(clean, config.chunk_tokens, render, config.model)


def planned_chunks(messages: list[SourceMessage], config: EngineConfig) -> int:
    """How many chunks the thread makes; the last is too big to be folded into its merge, so
    every chunk is mapped."""
    chunks = chunk_list(messages, config)
    assert chunks[-1].tokens > FOLD_TOKENS
    return len(chunks)


def merges(requests: list[ModelRequest]) -> list[int]:
    """Parts read by each merge, in arrival order."""
    return [r.user.count("<<part ") for r in requests if r.is_reduce]


@pytest.fixture
async def llm(model: ModelServer, r: aioredis.Redis) -> AsyncIterator[LLM]:
    client = LLM("sk-unit-test-key-not-real", "test-model", model.url, max_retries=0, redis=r)
    yield client
    await client.aclose()


def engine(r: aioredis.Redis, llm: LLM, **options: object) -> MapReduce:
    return MapReduce(r, llm, EngineConfig(engine="openai", model="test-model", **options))  # type: ignore[arg-type]


async def held_run(
    model: ModelServer, mapreduce: MapReduce, messages: list[SourceMessage], waves: list[int]
) -> MapReduceRun:
    """Run with every model call held; release one round at a time once the `waves[i]` calls of
    round i are all in flight. A round that needed an earlier round's answers could not arrive
    before the release, so each wave is one round and the rounds are len(waves)."""
    model.hold = asyncio.Event()
    task = asyncio.ensure_future(mapreduce.run("conv", messages))
    arrived = 0
    for size in waves:
        arrived += size
        # A guard against a hang if fewer calls come, not a timing: the rounds are counted.
        await asyncio.wait_for(model.arrivals(arrived), timeout=120)
        assert len(model.requests) == arrived  # nothing of the next round came early
        released, model.hold = model.hold, asyncio.Event()
        released.set()
    model.hold.set()
    run = await task
    assert len(model.requests) == arrived  # no call outside the counted rounds
    return run


async def test_five_thousand_messages_take_two_model_rounds(
    model: ModelServer, r: aioredis.Redis, llm: LLM
) -> None:
    mapreduce = engine(r, llm)
    messages = thread(5000)
    chunks = planned_chunks(messages, mapreduce.config)
    assert 1 < chunks <= mapreduce.fan_in <= mapreduce.config.concurrency
    run = await held_run(model, mapreduce, messages, waves=[chunks, 1])
    assert run.rounds == 2 and run.model_calls == chunks + 1
    assert merges(model.requests) == [chunks]  # one merge of every chunk summary
    sent = [mid for q in model.requests for mid in q.message_ids]
    assert sorted(sent) == sorted(f"M{n}" for n in range(1, 5001))


async def test_twenty_thousand_messages_take_three_model_rounds(
    model: ModelServer, r: aioredis.Redis, llm: LLM
) -> None:
    mapreduce = engine(r, llm)
    messages = thread(20_000, salt="[programme] ")  # ~27 tokens a message, as in the bench
    chunks = planned_chunks(messages, mapreduce.config)
    fan_in = mapreduce.fan_in
    assert fan_in < chunks <= min(fan_in * fan_in, mapreduce.config.concurrency)
    full, rest = divmod(chunks, fan_in)
    first_level = full + (rest > 1)  # a last group of one chunk is that chunk, no merge
    run = await held_run(model, mapreduce, messages, waves=[chunks, first_level, 1])
    assert run.rounds == 3
    parts = merges(model.requests)
    assert parts[:-1] == [fan_in] * full + ([rest] if rest > 1 else [])
    assert parts[-1] == full + (rest > 0)  # the root merges the first level's merges


async def test_incremental_resummary_merges_the_last_root_with_the_new_replies(
    model: ModelServer, r: aioredis.Redis, llm: LLM
) -> None:
    """20 new replies: one merge, of the previous run's root and the new replies themselves; the
    cost stays under 2% of the first run and does not grow with the thread (5,000 and 20,000
    messages)."""
    costs: dict[int, tuple[int, int]] = {}
    for size in (5000, 20_000):
        mapreduce = engine(r, llm)
        conversation = f"conv-{size}"
        messages = thread(size, salt=f"[{size}] ")
        first = await mapreduce.run(conversation, messages)
        assert first.chunks > (mapreduce.fan_in if size == 20_000 else 1)
        before = len(model.requests)
        grown = messages + thread(20, start=size + 1, salt=f"[{size}] late ")
        again = await mapreduce.run(conversation, grown)
        second = model.requests[before:]
        assert [mid for q in second for mid in q.message_ids] == [
            f"M{n}" for n in range(size + 1, size + 21)
        ]  # only the new replies went to the model again ...
        assert len(second) == 1 and second[0].is_reduce  # ... read by one merge
        assert merges(second) == [1]  # whose only part is the previous root
        assert again.cached_chunks == first.chunks and again.chunks == first.chunks + 1
        assert again.cached_nodes == 1 and again.rounds == 1
        assert again.tokens_in == second[0].prompt_tokens
        costs[size] = (first.tokens_in + first.tokens_out, again.tokens_in + again.tokens_out)

        more = grown + thread(20, start=size + 21, salt=f"[{size}] later ")
        before = len(model.requests)
        third = await mapreduce.run(conversation, more)
        assert merges(model.requests[before:]) == [1] and third.model_calls == 1  # a chain
    for first_cost, again_cost in costs.values():
        assert again_cost < 0.02 * first_cost
    assert costs[20_000][1] < 1.2 * costs[5000][1]  # flat: one merge at any length


async def test_a_lost_root_falls_back_to_the_balanced_tree(
    model: ModelServer, r: aioredis.Redis, llm: LLM
) -> None:
    mapreduce = engine(r, llm, chunk_tokens=2000)
    messages = thread(800)
    first = await mapreduce.run("conv", messages)
    grown = messages + thread(20, start=801)
    await mapreduce.run("conv", grown)
    for key in await r.keys("steward:summ:node:*"):  # every merge expired, chunk summaries kept
        await r.delete(key)
    before = len(model.requests)
    rebuilt = await mapreduce.run("conv", grown)
    again = model.requests[before:]
    assert rebuilt.chunks == first.chunks + 1 and rebuilt.cached_nodes == 0
    # Chunk summaries came from the cache; only the small last chunks, which earlier merges
    # had read directly (folded), went to the model again, in a whole tree of merges.
    last = chunk_list(messages, mapreduce.config)[-1]
    sent = {mid for q in again for mid in q.message_ids}
    assert sent == {f"M{n}" for n in range(801 - len(last.messages), 821)}
    assert len(merges(again)) >= 2 and rebuilt.rounds >= 2
    assert rebuilt.summary.covered == (messages[0].ts, grown[-1].ts)


async def test_an_unchanged_thread_is_answered_from_the_cache(
    model: ModelServer, r: aioredis.Redis, llm: LLM
) -> None:
    mapreduce = engine(r, llm, chunk_tokens=2000)
    messages = thread(800)
    first = await mapreduce.run("conv", messages)
    assert first.chunks > mapreduce.fan_in  # a tree with a middle level
    calls = len(model.requests)
    again = await mapreduce.run("conv", messages)
    assert len(model.requests) == calls and again.model_calls == 0
    assert again.summary == first.summary


async def test_the_cpu_step_leaves_the_event_loop_to_other_jobs(
    model: ModelServer, r: aioredis.Redis, llm: LLM
) -> None:
    """While one summary's redaction and chunking is held inside its CPU step, another job's
    whole summary (its own CPU step, a model call, Redis) completes on the same event loop."""
    inside, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def hold_the_cpu_step() -> None:
        inside.set()
        # If this ran on the event loop, the other job could never run and set `release`:
        # the wait would end by its timeout, and the assertion below would fail.
        released.append(release.wait(timeout=60))

    big = MapReduce(
        r, llm, EngineConfig(engine="openai", model="test-model"), cpu_step=hold_the_cpu_step
    )
    task = asyncio.ensure_future(big.run("big", thread(3000)))
    assert await asyncio.to_thread(inside.wait, 60)
    other = await engine(r, llm).run("other", thread(30, salt="other "))
    assert other.model_calls == 1 and other.summary.gist.startswith("other")
    assert not task.done() and len(model.requests) == 1  # the big one is still in its CPU step
    release.set()
    run = await task
    assert released == [True] and run.model_calls > 1


async def test_chunks_and_merges_fit_a_small_context_window(r: aioredis.Redis) -> None:
    """The loopback model refuses prompts over its window (400 context_length_exceeded)."""
    async with ModelServer(context_window=8000) as small:
        client = LLM("sk-unit-test-key-not-real", "test-model", small.url, max_retries=0, redis=r)
        try:
            config = EngineConfig(engine="openai", model="test-model", context_window=8000)
            run = await MapReduce(r, client, config).run("conv", thread(1500))
        finally:
            await client.aclose()
    assert run.chunks > 1 and run.summary.gist
    assert small.requests and all(q.status == 200 for q in small.requests)
    assert max(q.prompt_tokens for q in small.requests) <= 8000
