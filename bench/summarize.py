"""Summary benchmarks: bot overhead, wall time with a slow model, incremental token savings.

The real summarise use case (fetch over Slack's Web API, redaction, chunking, the model over
HTTP, audit, the private reply) runs in this process against Redis (REDIS_URL, else the
embedded Valkey). The fakes — the local Slack sandbox and two loopback OpenAI-compatible
servers (one instant, one taking 1 s per call) — run in a child process, so their CPU is not
counted as the bot's.

    python bench/summarize.py [--runs 30] [--offline-only]

Prints:
- the offline engine alone on 10,000 messages (median and worst of 5 runs; target < 1 s);
- bot overhead per summary with zero-latency fakes, for 100 and 5,000 messages (p50, p99);
- wall time for 5,000 messages with a model that takes 1 s per call, as a multiple of one call;
- tokens sent to the model ÷ tokens in the thread, first run and after 20 new replies.
Targets: overhead p50 < 20 ms at 100 messages; 5,000 messages in under 3× one model call;
incremental run under 10% of the first run's tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

POLICY = """
defaults:
  budget:
    user_daily_tokens: 1000000000
    team_daily_tokens: 1000000000
    user_requests_per_minute: 1000000
use_cases:
  summarize:
    channels: ["*"]
"""
TOPICS = ["pricing", "launch date", "migration", "support rota", "docs", "QA", "legal review"]
PEOPLE = ["U0EMP", "U0MGR1", "U0MGR2", "U0ENG", "U0DES", "U0SUP"]
CHANNEL = "C0GENERAL"


def thread_lines(count: int, salt: str) -> list[tuple[str, str]]:
    return [
        (
            PEOPLE[n % len(PEOPLE)],
            f"[{salt}] Update {n} on the {TOPICS[n % len(TOPICS)]} track: item {n * 7 % 101} "
            + ("is decided, we'll go with option B." if n % 50 == 0 else "is still open?"),
        )
        for n in range(1, count + 1)
    ]


def offline_engine(count: int = 10_000, repeats: int = 5) -> None:
    """The offline engine on `count` messages, no I/O: what a person waits for, model-free."""
    import random

    from app.slack.messages import SourceMessage
    from app.summaries.offline_engine import summarize_offline

    rng = random.Random(3)
    vocab = ["deploy", "billing", "postgres", "migration", "replica", "backup", "on-call", "api"]
    messages = [
        SourceMessage(
            ts=f"{1712000000 + n}.000100",
            user_id=PEOPLE[n % len(PEOPLE)],
            user_name=PEOPLE[n % len(PEOPLE)],
            text=" ".join(rng.choices(vocab, k=12))
            + rng.choice(["?", ".", " by Friday", " agreed"]),
        )
        for n in range(count)
    ]
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        summarize_offline(messages)
        timings.append(time.perf_counter() - started)
    print(
        f"offline engine, {count:,} messages: median {statistics.median(timings) * 1000:.0f} ms, "
        f"worst {max(timings) * 1000:.0f} ms of {repeats} runs  (target < 1 s)"
    )


# ---- the fakes, in their own process --------------------------------------------------------


def run_fakes(conn: Connection, small: int, large: int) -> None:
    asyncio.run(_fakes(conn, small, large))


async def _fakes(conn: Connection, small: int, large: int) -> None:
    from app.model.tokens import count_tokens
    from app.sandbox import Sandbox, seed_demo_workspace
    from app.sandbox.openai_compat import ModelServer

    async with (
        Sandbox(signing_secret="bench") as sandbox,
        ModelServer() as fast,
        ModelServer(latency=1.0) as slow,
    ):
        seed_demo_workspace(sandbox.workspace)
        ws = sandbox.workspace

        run_id = time.time_ns()  # fresh text each run, so no earlier run's cache helps

        def thread(size: int, salt: str) -> str:
            lines = thread_lines(size - 1, f"{salt}-{run_id}")
            return ws.add_thread(CHANNEL, ("U0MGR1", "Programme"), lines).ts

        threads = {
            "small": [thread(100, f"s{n}") for n in range(small + 1)],
            "large": [thread(5000, f"l{n}") for n in range(large)],
            "slow": thread(5000, "slow"),
        }
        conn.send(
            {
                "api_url": sandbox.api_url,
                "fast": fast.url,
                "slow": slow.url,
                "bot_token": sandbox.bot_token,
                "threads": threads,
            }
        )
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                return
            if command == "thread_tokens":
                replies = sandbox.thread(CHANNEL, threads["slow"])
                conn.send(sum(count_tokens(m.text) for m in replies))


# ---- the bot, in this process --------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Bot:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def summarize(self, thread_ts: str) -> tuple[float, int]:
        from app.summaries.summarize import SummarizeRequest, run_summarize
        from app.summaries.targets import Target

        req = SummarizeRequest(
            team_id="T0STEWARD",
            user_id="U0EMP",
            target=Target(channel_id=CHANNEL, thread_ts=thread_ts),
            trigger="shortcut",
            reply_channel=CHANNEL,
        )
        started = time.perf_counter()
        await run_summarize(self.runtime.services, req)
        elapsed = time.perf_counter() - started
        events = await self.runtime.services.audit.events_for(req.interaction_id)
        generated = [e for e in events if e.event == "generated"]
        if not generated:
            raise SystemExit(f"no summary was produced: {[e.event for e in events]}")
        return elapsed, generated[0].tokens_in or 0


def runtime_for(fakes: dict[str, Any], model_url: str, redis_url: str, data: Path) -> Any:
    from app.runtime.process import Runtime
    from app.runtime.settings import load_settings

    settings = load_settings(
        slack_bot_token=fakes["bot_token"],
        slack_api_url=fakes["api_url"],
        redis_url=redis_url,
        steward_data_dir=data,
        steward_policy=data / "policy.yml",
        steward_engine="openai",
        openai_api_key="sk-bench",
        openai_base_url=model_url,
        openai_model="bench-model",
    )
    return Runtime(settings, redis_url)


async def add_replies(fakes: dict[str, Any], thread_ts: str, count: int) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=fakes["bot_token"], base_url=fakes["api_url"])
    for n in range(count):
        await client.chat_postMessage(
            channel=CHANNEL, thread_ts=thread_ts, text=f"Late reply {n}: I'll own it."
        )


async def measure(fakes: dict[str, Any], conn: Connection, redis_url: str, data: Path) -> None:
    from app.model.tokens import warm_up

    warm_up()
    warm_up("bench-model")
    fast = runtime_for(fakes, fakes["fast"], redis_url, data)
    bot = Bot(fast)
    small_threads = fakes["threads"]["small"]
    await bot.summarize(small_threads[0])  # warm connections and caches
    small = [(await bot.summarize(ts))[0] for ts in small_threads[1:]]
    large = [(await bot.summarize(ts))[0] for ts in fakes["threads"]["large"]]
    print("bot overhead per summary (zero-latency Slack and model fakes in another process):")
    print(
        f"  100 messages:   p50 {statistics.median(small) * 1000:7.1f} ms, "
        f"p99 {pct(small, 99) * 1000:7.1f} ms  (target p50 < 20 ms)"
    )
    print(
        f"  5,000 messages: p50 {statistics.median(large) * 1000:7.1f} ms, "
        f"p99 {pct(large, 99) * 1000:7.1f} ms"
    )
    await fast.close()

    slow = runtime_for(fakes, fakes["slow"], redis_url, data)
    wall, first_tokens = await Bot(slow).summarize(fakes["threads"]["slow"])
    print(
        f"5,000 messages, model 1 s per call: {wall:.2f} s wall "
        f"= {wall:.2f}x one call (target < 3x)"
    )
    await add_replies(fakes, fakes["threads"]["slow"], 20)
    _, incremental_tokens = await Bot(slow).summarize(fakes["threads"]["slow"])
    await slow.close()
    conn.send("thread_tokens")
    thread_tokens = conn.recv()
    print("tokens sent to the model / tokens of thread text:")
    print(
        f"  first run:        {first_tokens:>9,} / {thread_tokens:,} = "
        f"{first_tokens / thread_tokens:.2f}"
    )
    print(
        f"  after 20 replies: {incremental_tokens:>9,} / {thread_tokens:,} = "
        f"{incremental_tokens / thread_tokens:.3f} "
        f"({incremental_tokens / first_tokens:.1%} of the first run; target < 10%)"
    )


def main(runs: int, offline_only: bool) -> None:
    offline_engine()
    if offline_only:
        return
    from app.runtime.settings import load_settings
    from app.runtime.store import open_redis

    data = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    (data / "policy.yml").write_text(POLICY)
    target = open_redis(
        load_settings(redis_url=os.environ.get("REDIS_URL") or None, steward_data_dir=data)
    )
    parent, child = mp.get_context("spawn").Pipe()
    fakes_process = mp.get_context("spawn").Process(
        target=run_fakes, args=(child, runs, max(3, runs // 10))
    )
    fakes_process.start()
    try:
        fakes = parent.recv()
        asyncio.run(measure(fakes, parent, target.url, data))
    finally:
        parent.send("stop")
        fakes_process.join(timeout=30)
        target.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--offline-only", action="store_true", help="only the offline engine")
    args = parser.parse_args()
    main(args.runs, args.offline_only)
