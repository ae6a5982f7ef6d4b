"""`steward serve` under a body flood (issue 12 #1's acceptance).

Starts the local Slack sandbox in its own process and default `steward serve` (in-process
workers; Redis: STEWARD_BENCH_REDIS_URL if set, else an embedded Valkey). Then, from processes
of their own: 10 clients post 200 MB unsigned bodies over and over (half announce it in Content-
Length, half stream it chunked, without one), while a probe sends signed `/steward help`
commands one after another, each on a new connection. serve's RSS is sampled throughout. Prints
the largest RSS (target under 150 MB), the probe's ack p50/p99 (target p99 under 100 ms), and
what the flood got back. Loopback only; bounded (it stops after --probes commands or --seconds).

    python bench/abuse.py [--clients 10] [--megabytes 200] [--probes 300] [--seconds 60]
                          [--no-workers]

The RSS printed includes what serve holds before any request (with in-process workers, the
tokenizer's vocabulary and the model client); "grew" is what the flood added.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import signal
import statistics
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import uvloop
from ack import (
    _one_fresh,
    free_port,
    percentile,
    raw_request,
    rss_mb,
    start_sandbox,
    steward_env,
    wait_healthy,
)

CHUNK = b"x" * 65536


async def _flood_once(port: int, size: int, chunked: bool) -> str:
    """One unsigned POST of `size` bytes; what the server answered (or that it hung up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    writer.write(head.encode())
    sent = 0
    try:
        while sent < size:
            piece = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n" if chunked else CHUNK
            writer.write(piece)
            await writer.drain()
            sent += len(CHUNK)
            if reader.at_eof() or writer.is_closing():
                break
        if chunked:
            writer.write(b"0\r\n\r\n")
        status_line = await asyncio.wait_for(reader.readline(), 10)
    except (ConnectionError, OSError, TimeoutError):
        return "hung up"
    finally:
        writer.close()
    return status_line.split()[1].decode() if status_line else "hung up"


def flood(conn: Connection, port: int, clients: int, size: int, stop_at: float) -> None:
    async def client(index: int, answers: dict[str, int]) -> None:
        while time.time() < stop_at:
            answer = await _flood_once(port, size, chunked=index % 2 == 1)
            answers[answer] = answers.get(answer, 0) + 1

    async def run() -> dict[str, int]:
        answers: dict[str, int] = {}
        await asyncio.gather(*(client(i, answers) for i in range(clients)))
        return answers

    conn.send(uvloop.run(run()))


def probe(conn: Connection, port: int, count: int, stop_at: float) -> None:
    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        failures = 0
        for n in range(count):
            if time.time() >= stop_at:
                break
            elapsed, status = await _one_fresh(port, raw_request(port, 10_000 + n))
            latencies.append(elapsed)
            failures += status != 200
            await asyncio.sleep(0.02)
        return latencies, failures

    conn.send(uvloop.run(run()))


async def main(clients: int, megabytes: int, probes: int, seconds: float, no_workers: bool) -> int:
    context = mp.get_context("spawn")
    sandbox, conn, api_url, bot_token = start_sandbox(context)
    port = free_port()
    # ERROR: every refusal is logged; keep the terminal readable.
    env = steward_env(api_url, bot_token, "steward-abuse-", "ERROR")
    root = Path(__file__).resolve().parent.parent
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    serve += ["--no-workers"] if no_workers else []
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *serve], env=env, cwd=root)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        idle_rss = rss_mb(proc.pid)
        stop_at = time.time() + seconds
        flood_conn, flood_child = context.Pipe()
        probe_conn, probe_child = context.Pipe()
        size = megabytes * 1024 * 1024
        flooder = context.Process(target=flood, args=(flood_child, port, clients, size, stop_at))
        prober = context.Process(target=probe, args=(probe_child, port, probes, stop_at))
        flooder.start()
        await asyncio.sleep(1.0)  # let the flood get going before the first probe
        prober.start()
        peak = idle_rss
        while not probe_conn.poll():
            peak = max(peak, rss_mb(proc.pid))
            await asyncio.sleep(0.05)
        latencies, failures = probe_conn.recv()
        stop_at = time.time()
        peak = max(peak, rss_mb(proc.pid))
        answers = flood_conn.recv() if flood_conn.poll(max(0.0, seconds + 15)) else {}
        prober.join(timeout=10)
        flooder.join(timeout=10)
        if flooder.is_alive():
            flooder.terminate()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        conn.send("stop")
        sandbox.join(timeout=10)
    ms = [v * 1000 for v in latencies]
    print(f"flood: {clients} clients posting {megabytes} MB unsigned bodies; answers: {answers}")
    shape = "--no-workers" if no_workers else "in-process workers"
    print(
        f"serve ({shape}) RSS: {idle_rss:.0f} MB idle, {peak:.0f} MB at most during the flood "
        f"(grew {peak - idle_rss:.0f} MB)"
    )
    print(f"  target < 150 MB: {'met' if peak < 150 else 'NOT met'}")
    if ms:
        p99 = percentile(ms, 99)
        print(
            f"signed /steward help meanwhile, new connection each: {len(ms)} sent, "
            f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms (non-200: {failures})"
        )
        print(f"  target p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'}")
    return 0 if failures == 0 and ms else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-workers", action="store_true", help="serve only acknowledges")
    options = parser.parse_args()
    args = (options.clients, options.megabytes, options.probes, options.seconds)
    args += (options.no_workers,)
    raise SystemExit(uvloop.run(main(*args)))
