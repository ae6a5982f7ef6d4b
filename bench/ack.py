"""Ack latency of `steward serve` under concurrent signed Slack requests.

Starts the local Slack sandbox in its own process, `steward serve --no-workers` and one `steward
worker` (the Procfile's shape; Redis: STEWARD_BENCH_REDIS_URL if set, else an embedded Valkey).
It opens C keep-alive connections, then fires N pre-signed `/steward help` slash commands
through them, C in flight at once, and prints ack latency p50/p99, requests/s, serve's CPU per
request and RSS. Unless --ack-only, it then waits until every request's reply reached the
sandbox, so the numbers are for work that really happened while the worker drained the queue
beside serve. Target on the 2-core machine: p99 under 50 ms at 200 concurrent requests.

    python bench/ack.py [--requests 2000] [--concurrency 200] [--ack-only | --in-process]

BENCH_SERVE_PROCESSES=2 runs `serve --processes 2`.

--versus-trivial (issue 12's acceptance): in one run, from a client in its own process that opens
a new connection per request (as a peer that keeps none would), C concurrent signed commands
against default `serve` (in-process workers, busy with the replies) and against a trivial ASGI
app (a Starlette app answering 200, on the same uvicorn config); prints both p99s and the ratio
(target: Steward at most 2x the trivial app).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httptools
import uvloop
from slack_sdk.signature import SignatureVerifier

from app.sandbox import Sandbox, seed_demo_workspace

SECRET = "bench-signing-secret"
PROCESSES = int(os.environ.get("BENCH_SERVE_PROCESSES", "1"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_body(n: int) -> str:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0STEWARD",
            "team_domain": "acme",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": "U0EMP",
            "user_name": "priya.raman",
            "command": "/steward",
            "text": "help",
            "api_app_id": "A0STEWARD",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": f"trigger-{n}",
        }
    )


def signed_headers(body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
            timestamp=timestamp, body=body
        ),
    }


async def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"steward serve exited with {proc.returncode}")
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("steward serve did not become healthy in 30 s")


def raw_request(port: int, n: int) -> bytes:
    body = command_body(n)
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in signed_headers(body).items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body.encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a round of requests one after another, timing each.

    A protocol with httptools' C parser rather than stream readers, so that the load generator,
    which shares the machine's two cores with the server, spends as little CPU as it can.
    """

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._requests: Iterator[bytes] = iter(())
        self._result = Result()
        self._started = 0.0
        self._done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport  # uvloop's transports are not asyncio.Transport

    def send(self, requests: list[bytes], result: Result) -> asyncio.Future[None]:
        self._requests, self._result = iter(requests), result
        self._done = asyncio.get_running_loop().create_future()
        self._send_next()
        return self._done

    def close(self) -> None:
        self._transport.close()

    def _send_next(self) -> None:
        request = next(self._requests, None)
        if request is None:
            self._finish()
            return
        self._started = time.perf_counter()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:  # httptools callback: one whole answer arrived
        self._result.latencies.append(time.perf_counter() - self._started)
        if self._parser.get_status_code() != 200:
            self._result.failures += 1
        self._send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0


async def connect(port: int, count: int) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    return [(await loop.create_connection(_Connection, "127.0.0.1", port))[1] for _ in range(count)]


async def fire(
    connections: list[_Connection], port: int, first: int, total: int
) -> tuple[list[float], float, int]:
    """Requests `first`..`first + total` shared out over the open connections, all started at
    once: `len(connections)` requests in flight until the last round.

    Requests are built and signed before the clock starts and sent as raw HTTP/1.1 bytes, so
    the load generator spends microseconds per request and the numbers are the server's.
    """
    requests = [raw_request(port, n) for n in range(first, first + total)]
    result = Result()
    count = len(connections)
    gc.disable()  # a collection in the load generator would be counted as server latency
    try:
        started = time.perf_counter()
        rounds = [c.send(requests[i::count], result) for i, c in enumerate(connections)]
        await asyncio.gather(*rounds)
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    if len(result.latencies) < total:
        raise SystemExit(f"only {len(result.latencies)} of {total} requests were answered")
    return result.latencies, elapsed, result.failures


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def bench_redis_url() -> str | None:
    """STEWARD_BENCH_REDIS_URL's database, if it is empty (the bench flushes it between runs),
    else None: an embedded Valkey of the bench's own. A person's REDIS_URL is never touched."""
    configured = os.environ.get("STEWARD_BENCH_REDIS_URL")
    if not configured:
        return None
    import redis

    client = redis.Redis.from_url(configured)
    if client.dbsize() and not client.exists("steward:bench:owned"):
        raise SystemExit(
            "STEWARD_BENCH_REDIS_URL names a database holding keys the bench did not write; "
            "point it at an empty database (e.g. another /N) or unset it."
        )
    client.flushdb()
    client.set("steward:bench:owned", "1")
    return configured


def start_sandbox(context: Any) -> tuple[Any, Connection, str, str]:
    """The sandbox in its own process: (process, pipe, api_url, bot_token)."""
    conn, child = context.Pipe()
    sandbox = context.Process(target=run_sandbox, args=(child,))
    sandbox.start()
    api_url, bot_token = conn.recv()
    return sandbox, conn, api_url, bot_token


def steward_env(api_url: str, bot_token: str, prefix: str, log_level: str) -> dict[str, str]:
    """What a bench's `steward` processes run with: the sandbox, the bench's own Redis."""
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        "STEWARD_DATA_DIR": tempfile.mkdtemp(prefix=prefix),
        "REDIS_URL": bench_redis_url() or "",
        "STEWARD_LOG_LEVEL": log_level,
    }


def run_sandbox(conn: Connection) -> None:
    """The local Slack, in its own process so the load generator does not slow it down."""

    async def serve() -> None:
        async with Sandbox(signing_secret=SECRET) as sandbox:
            seed_demo_workspace(sandbox.workspace)
            conn.send((sandbox.api_url, sandbox.bot_token))
            loop = asyncio.get_running_loop()
            while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
                if command == "replies":
                    conn.send(len(sandbox.ephemerals(user="U0EMP")))

    asyncio.run(serve())


def replies_so_far(conn: Connection) -> int:
    conn.send("replies")
    return int(conn.recv())


async def wait_replies(conn: Connection, count: int, timeout: float = 120) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        conn.send("replies")
        if conn.recv() >= count:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise SystemExit(f"not all {count} replies arrived within {timeout} s")


async def main(total: int, concurrency: int, ack_only: bool, in_process: bool) -> int:
    context = mp.get_context("spawn")
    sandbox, conn, api_url, bot_token = start_sandbox(context)
    port = free_port()
    env = steward_env(api_url, bot_token, "steward-bench-", "WARNING")
    root = Path(__file__).resolve().parent.parent
    # By default the deployment shape the Procfile describes: `serve` only acknowledges, a
    # `worker` process does the work. --in-process: one `serve` doing both, as on a laptop.
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    serve += ["--processes", str(PROCESSES)] + ([] if in_process else ["--no-workers"])
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *serve], env=env, cwd=root)
    worker_cmd = [sys.executable, "-m", "app.cli", "worker"]
    separate = not (ack_only or in_process)
    worker = subprocess.Popen(worker_cmd if separate else ["true"], env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, proc)
        # Open the connections and send one request on each before the clock starts, so the
        # numbers are for requests, not for TCP handshakes and accepts (as wrk measures).
        connections = await connect(port, concurrency)
        warm = len(connections)
        await fire(connections, port, 0, warm)
        if not ack_only:
            await wait_replies(conn, warm)
        cpu_before = cpu_seconds(proc.pid)
        worker_before = cpu_seconds(worker.pid) if separate else 0.0
        latencies, elapsed, failures = await fire(connections, port, warm, total)
        for connection in connections:
            connection.close()
        serve_cpu = cpu_seconds(proc.pid) - cpu_before
        drain = float("nan") if ack_only else await wait_replies(conn, warm + total)
        worker_cpu = cpu_seconds(worker.pid) - worker_before if separate else 0.0
        rss = rss_mb(proc.pid)
    finally:
        for running in (proc, worker):
            running.send_signal(signal.SIGTERM)
        for running in (proc, worker):
            try:
                running.wait(timeout=20)
            except subprocess.TimeoutExpired:
                running.kill()
        conn.send("stop")
        sandbox.join(timeout=10)
    ms = [value * 1000 for value in latencies]
    shape = "ack only" if ack_only else "in-process workers" if in_process else "serve + worker"
    print(f"requests: {total} signed /steward help, {concurrency} concurrent ({shape})")
    print(f"ack latency: p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 99):.1f} ms")
    print(f"throughput: {total / elapsed:.0f} requests/s (non-200 answers: {failures})")
    if not ack_only:
        print(f"all {total} replies recorded by the sandbox {drain:.2f} s after the last ack")
    print(
        f"serve CPU per request: {serve_cpu / total * 1000:.2f} ms "
        f"({serve_cpu / elapsed:.0%} of one core while firing)"
    )
    if separate:
        print(
            f"worker CPU per command (its whole job: replay, reply, bookkeeping): "
            f"{worker_cpu / total * 1000:.2f} ms, {total / worker_cpu:.0f} commands per CPU-second"
        )
    print(f"serve process RSS after the run: {rss:.0f} MB (limit 150 MB)")
    p99_ok = percentile(ms, 99) < 50
    print(f"target p99 < 50 ms at 200 concurrent: {'met' if p99_ok else 'NOT met'}")
    return 0 if failures == 0 else 1


# ---------------------------------------------------------------- --versus-trivial


def run_trivial(port: int) -> None:
    """A Starlette app that answers every POST with 200, on serve's uvicorn config."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def events(request: Request) -> Response:
        await request.body()
        return Response()

    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        log_config=None,
    )
    uvicorn.Server(config).run()


async def _one_fresh(port: int, request: bytes) -> tuple[float, int]:
    """One request on a connection of its own: connect, send, read the whole answer, close."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    elapsed = time.perf_counter() - started
    writer.close()
    status = int(status_line.split()[1]) if status_line else 0
    return elapsed, status


def fresh_client(conn: Connection, port: int, first: int, total: int, concurrency: int) -> None:
    """The load generator, in its own process: `total` requests, `concurrency` at once, each on
    a new connection. Sends back (latencies, non-200 count)."""

    async def run() -> tuple[list[float], int]:
        requests = [raw_request(port, n) for n in range(first, first + total)]
        gate = asyncio.Semaphore(concurrency)

        async def one(request: bytes) -> tuple[float, int]:
            async with gate:
                return await _one_fresh(port, request)

        gc.disable()
        results = await asyncio.gather(*(one(r) for r in requests))
        gc.enable()
        return [r[0] for r in results], sum(1 for r in results if r[1] != 200)

    conn.send(uvloop.run(run()))


def measure_fresh(port: int, first: int, total: int, concurrency: int) -> tuple[list[float], int]:
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    client = context.Process(target=fresh_client, args=(child, port, first, total, concurrency))
    client.start()
    latencies, failures = parent.recv()
    client.join(timeout=30)
    return latencies, failures


async def versus_trivial(total: int, concurrency: int, rounds: int) -> int:
    """`rounds` rounds, each Steward then the trivial app (after Steward's workers finished the
    round's replies, so its CPU is not charged to the trivial app): drift in the machine's load
    hits both alike. The verdict is on the p99 of all rounds pooled."""
    context = mp.get_context("spawn")
    sandbox, conn, api_url, bot_token = start_sandbox(context)
    port, trivial_port = free_port(), free_port()
    env = steward_env(api_url, bot_token, "steward-bench-", "WARNING")
    root = Path(__file__).resolve().parent.parent
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]  # default: in-process workers
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *serve], env=env, cwd=root)
    trivial = context.Process(target=run_trivial, args=(trivial_port,))
    trivial.start()
    ours: list[float] = []
    theirs: list[float] = []
    failures = trivial_failures = 0
    print(
        f"requests: {total} signed /steward help per round, {concurrency} concurrent, a new "
        f"connection each, {rounds} rounds"
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", proc)
        await wait_port(trivial_port)
        # Warm both (first requests pay for imports and caches), then measure each.
        measure_fresh(port, 0, concurrency, concurrency)
        await wait_replies(conn, concurrency)
        measure_fresh(trivial_port, 0, concurrency, concurrency)
        sent = concurrency
        for round_no in range(1, rounds + 1):
            cpu, replied = cpu_seconds(proc.pid), replies_so_far(conn)
            steward, failed = measure_fresh(port, sent, total, concurrency)
            cpu, replied = cpu_seconds(proc.pid) - cpu, replies_so_far(conn) - replied
            sent += total
            await wait_replies(conn, sent)  # the workers did the work meanwhile
            baseline, trivial_failed = measure_fresh(trivial_port, 0, total, concurrency)
            failures += failed
            trivial_failures += trivial_failed
            mine = [v * 1000 for v in steward]
            other = [v * 1000 for v in baseline]
            ours += mine
            theirs += other
            print(
                f"  round {round_no}: steward p99 {percentile(mine, 99):.1f} ms, trivial p99 "
                f"{percentile(other, 99):.1f} ms, ratio "
                f"{percentile(mine, 99) / percentile(other, 99):.2f}x; serve CPU while "
                f"answering {cpu / total * 1e6:.0f} us per request (workers included; they "
                f"replied to {replied} meanwhile)"
            )
        rss = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        trivial.terminate()
        trivial.join(timeout=10)
        conn.send("stop")
        sandbox.join(timeout=10)
    ratio = percentile(ours, 99) / percentile(theirs, 99)
    print(
        f"steward serve (in-process workers): p50 {statistics.median(ours):.1f} ms, "
        f"p99 {percentile(ours, 99):.1f} ms (non-200: {failures}; RSS {rss:.0f} MB)"
    )
    print(
        f"trivial Starlette app, same uvicorn config: p50 {statistics.median(theirs):.1f} ms, "
        f"p99 {percentile(theirs, 99):.1f} ms (non-200: {trivial_failures})"
    )
    verdict = "met" if ratio <= 2 else "NOT met"
    print(f"p99 ratio steward / trivial, all rounds: {ratio:.2f}x (target <= 2x: {verdict})")
    return 0 if failures == 0 else 1


async def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after 30 s")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="--versus-trivial rounds")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        "--ack-only", action="store_true", help="no worker: measure the acknowledgement path alone"
    )
    shape.add_argument(
        "--in-process", action="store_true", help="one serve process that also runs the jobs"
    )
    shape.add_argument(
        "--versus-trivial",
        action="store_true",
        help="default serve vs a trivial ASGI app, a new connection per request; p99 ratio",
    )
    options = parser.parse_args()
    if options.versus_trivial:
        raise SystemExit(
            uvloop.run(versus_trivial(options.requests, options.concurrency, options.rounds))
        )
    run = main(options.requests, options.concurrency, options.ack_only, options.in_process)
    raise SystemExit(uvloop.run(run))
