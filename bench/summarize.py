"""Summary benchmarks: bot overhead, model rounds and wall time with a slow model, incremental
token savings, prompt overhead of the marking.

The real summarise use case (fetch over Slack's Web API, redaction, chunking, the model over
HTTP, audit, the private reply) runs in this process against Redis (REDIS_URL, else the
embedded Valkey). The fakes — the local Slack sandbox and two loopback OpenAI-compatible
servers (one instant, one taking 1 s per call) — run in a child process, so their CPU is not
counted as the bot's.

    python bench/summarize.py [--runs 30] [--offline-only]

Prints:
- the offline engine alone on 10,000 messages (median and worst of 5 runs; target < 1 s);
- bot overhead per summary with zero-latency fakes, for 100 and 5,000 messages (p50, p99);
- model rounds and wall time for 5,000 and 20,000 messages with a model that takes 1 s per call
  (targets: ≤ 2 rounds and ≤ 2.5 s at 5,000; ≤ 3 rounds at 20,000);
- model tokens (in + out) of the first run and of a re-summary after 20 new replies, at 5,000
  and 20,000 messages (target: incremental < 2% of the first run, not growing with length);
- prompt tokens ÷ thread tokens: the whole first run as sent, and the message block alone with
  the old marking (datamarking every space) and the new (boundary marking). Target ≤ 1.3;
- the agent pane, 5,000 messages, model 1 s per call: time from the pane message's job start to
  the first visible progress (the first assistant.threads.setStatus answered; target < 1 s) and
  to the first streamed summary text (chat.startStream answered; target < 2.5 s).
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
    from app.model.tokens import count_tokens, warm_up
    from app.sandbox import Sandbox, seed_demo_workspace
    from app.sandbox.openai_compat import ModelServer

    warm_up()  # the fake model counts every prompt's tokens: its vocabulary loads now, not timed

    async with (
        Sandbox(signing_secret="bench") as sandbox,
        ModelServer() as fast,
        ModelServer(latency=1.0) as slow,
    ):
        seed_demo_workspace(sandbox.workspace)
        ws = sandbox.workspace

        # Fresh text each run, so no earlier run's cache helps; in letters, because a 19-digit
        # number in every message makes each one a card/phone candidate for the redactor,
        # which real threads are not.
        run_id = "".join(chr(ord("a") + int(d)) for d in str(time.time_ns())[-8:])

        def thread(size: int, salt: str) -> str:
            lines = thread_lines(size - 1, f"{salt}-{run_id}")
            return ws.add_thread(CHANNEL, ("U0MGR1", "Programme"), lines).ts

        threads = {
            "small": [thread(100, f"s{n}") for n in range(small + 1)],
            "large": [thread(5000, f"l{n}") for n in range(large)],
            "slow": thread(5000, "slow"),
            "slow20k": thread(20_000, "slow20k"),
            "pane": thread(5000, "pane"),
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
            if isinstance(command, tuple) and command[0] == "thread_tokens":
                replies = sandbox.thread(CHANNEL, command[1])
                conn.send(sum(count_tokens(m.text) for m in replies))
            if command == "pane_asked":  # a person asks in the pane for the pane thread
                dm = ws.open_im("U0EMP").id
                asked = ws.add_message(dm, "summarise the pane thread", user="U0EMP")
                conn.send((dm, asked.ts))
            if command == "marking":
                conn.send(marking_ratios(ws, sandbox.thread(CHANNEL, threads["slow"])))


def marking_ratios(ws: Any, replies: list[Any]) -> tuple[float, float]:
    """Tokens of the message block ÷ tokens of the messages' text, old marking and new."""
    from app.model.datamark import Boundary, render_bounded, render_untrusted
    from app.model.tokens import count_tokens
    from app.slack.messages import SourceMessage

    messages = [
        SourceMessage(ts=m.ts, user_id=m.user, user_name=ws.users[m.user].real_name, text=m.text)
        for m in replies
    ]
    text = sum(count_tokens(m.text) for m in messages)
    old = count_tokens(render_untrusted(messages).text)
    new = count_tokens(render_bounded(messages, Boundary.fresh()).text)
    return old / text, new / text


# ---- the bot, in this process --------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Bot:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def summarize(self, thread_ts: str) -> tuple[float, Any]:
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
        return elapsed, generated[0]


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
    costs: dict[str, tuple[int, int]] = {}
    first_prompt = thread_tokens = 0
    for label, key in (("5,000", "slow"), ("20,000", "slow20k")):
        thread_ts = fakes["threads"][key]
        wall, first = await Bot(slow).summarize(thread_ts)
        rounds = first.extra.get("model_rounds")
        target = "target ≤ 2 rounds, ≤ 2.5 s" if key == "slow" else "target ≤ 3 rounds"
        print(
            f"{label} messages, model 1 s per call: {rounds} model rounds "
            f"({first.extra.get('model_calls')} calls), {wall:.2f} s wall  ({target})"
        )
        conn.send(("thread_tokens", thread_ts))
        tokens = conn.recv()
        if key == "slow":
            first_prompt, thread_tokens = first.tokens_in or 0, tokens
        await add_replies(fakes, thread_ts, 20)
        _, again = await Bot(slow).summarize(thread_ts)
        costs[label] = (
            (first.tokens_in or 0) + (first.tokens_out or 0),
            (again.tokens_in or 0) + (again.tokens_out or 0),
        )
    status_s, text_s = await pane_first_text(slow, fakes, conn)
    print(
        f"agent pane, 5,000 messages, model 1 s per call: first progress {status_s:.2f} s "
        f"(target < 1 s), first streamed text {text_s:.2f} s (target < 2.5 s)"
    )
    await slow.close()
    print("model tokens (in + out), first run and re-summary after 20 new replies:")
    for label, (first_cost, again_cost) in costs.items():
        print(
            f"  {label:>6} messages: {first_cost:>9,} then {again_cost:>6,} "
            f"= {again_cost / first_cost:.2%} of the first run  (target < 2%, flat)"
        )
    conn.send("marking")
    old_block, new_block = conn.recv()
    print("prompt tokens / thread tokens (5,000 messages):")
    print(
        f"  first run as sent (system prompts, blocks, merges): "
        f"{first_prompt:,} / {thread_tokens:,} = {first_prompt / thread_tokens:.2f}  "
        "(target ≤ 1.3)"
    )
    print(
        f"  message block alone: old marking (every space) {old_block:.2f}, "
        f"new marking (per-message boundary, random key) {new_block:.2f}"
    )


async def pane_first_text(
    slow: Any, fakes: dict[str, Any], conn: Connection
) -> tuple[float, float]:
    """Seconds to the first status and to the first streamed text, for a pane message."""
    from app.pane import conversation
    from app.slack import agent

    conn.send("pane_asked")
    dm, ts = conn.recv()
    seen: dict[str, float] = {}
    real_status, real_start = agent.set_status, agent.start_stream

    async def timed_status(*args: Any, **kwargs: Any) -> None:
        await real_status(*args, **kwargs)
        seen.setdefault("status", time.perf_counter())

    async def timed_start(*args: Any, **kwargs: Any) -> str:
        answer = await real_start(*args, **kwargs)
        seen.setdefault("text", time.perf_counter())
        return answer

    agent.set_status = timed_status  # type: ignore[assignment]  # timestamps, nothing else
    agent.start_stream = timed_start  # type: ignore[assignment]
    try:
        pane_ts = fakes["threads"]["pane"].replace(".", "")
        link = f"https://acme.slack.com/archives/{CHANNEL}/p{pane_ts}"
        job = conversation.PaneMessage(
            team_id="T0STEWARD", user_id="U0EMP", channel_id=dm, ts=ts, text=f"summarise {link}"
        )
        started = time.perf_counter()
        await conversation.run_pane_message(slow.services, job)
    finally:
        agent.set_status, agent.start_stream = real_status, real_start
    return seen["status"] - started, seen["text"] - started


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
