"""Small timings the tests used to assert, printed instead (medians of a few runs).

- chunking a 5,000-message thread into 4,000-token chunks;
- redacting 2,000 messages of mixed text with planted PII;
- counting the tokens of 5,000 messages;
- paging a 10,000-reply thread through the sandbox's conversations.replies (200 a page);
- one sandbox Web API call (auth.test), averaged over 100.

    python bench/micro.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk.web.async_client import AsyncWebClient

from app.model.redact import Redactor
from app.model.tokens import count_tokens, warm_up
from app.sandbox import Sandbox, seed_demo_workspace
from app.slack.messages import SourceMessage
from app.summaries.chunking import chunk_messages


def median_ms(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def messages(texts: list[str]) -> list[SourceMessage]:
    return [
        SourceMessage(ts=f"{1700000000 + i}.000100", user_id="U1", user_name="Ana", text=t)
        for i, t in enumerate(texts)
    ]


async def sandbox_timings(runs: int) -> tuple[float, float]:
    async with Sandbox(signing_secret="bench") as sandbox:
        seed_demo_workspace(sandbox.workspace)
        ws = sandbox.workspace
        parent = ws.add_message("C0GENERAL", "big thread", user="U0EMP")
        for i in range(10_000):
            ws.add_message("C0GENERAL", f"reply {i}", user="U0ENG", thread_ts=parent.ts)
        client = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
        await client.auth_test()
        paging, calls = [], []
        for _ in range(runs):
            started = time.perf_counter()
            cursor = None
            while True:
                page = await client.conversations_replies(
                    channel="C0GENERAL", ts=parent.ts, limit=200, cursor=cursor
                )
                cursor = page["response_metadata"]["next_cursor"]
                if not cursor:
                    break
            paging.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            for _ in range(100):
                await client.auth_test()
            calls.append((time.perf_counter() - started) * 10)  # ms per call
        return statistics.median(paging), statistics.median(calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    warm_up()
    thread = messages(
        [f"we should ship the billing change by Friday, ticket {i}" for i in range(5000)]
    )
    texts = [m.text for m in thread]
    rng = random.Random(7)
    words = [
        "ship",
        "Friday",
        "billing",
        "ana@example.com",
        "4111 1111 1111 1111",
        "+44 20 7946 0958",
    ]
    mixed = [" ".join(rng.choices(words, k=20)) for _ in range(2000)]
    timings = {
        "chunk 5,000 messages": lambda: chunk_messages(thread, 4000, lambda m: m.text),
        "redact 2,000 messages": lambda: [Redactor().redact(t) for t in mixed],
        "count tokens of 5,000 messages": lambda: sum(count_tokens(t) for t in texts),
    }
    for name, work in timings.items():
        print(f"{name}: {median_ms(runs, work):.1f} ms")
    paging, call = asyncio.run(sandbox_timings(runs))
    print(f"page a 10,000-reply thread (sandbox, 200 a page): {paging:.0f} ms")
    print(f"one sandbox Web API call (auth.test): {call:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
