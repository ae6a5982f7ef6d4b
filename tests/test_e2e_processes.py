"""Real processes: `steward serve` and `steward worker` as an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.runtime.keys import GROUP, STREAMS
from app.sandbox import Sandbox, seed_demo_workspace
from tests.e2e import EMPLOYEE, GENERAL, SECRET

ROOT = Path(__file__).resolve().parent.parent


class Processes:
    """Starts `steward …` subprocesses and always reaps them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{args[0]}-{len(self.running)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=self.logs,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def base_env(sandbox: Sandbox, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": sandbox.api_url,
            "REDIS_URL": redis_url,
            "STEWARD_DATA_DIR": str(data_dir),
            "STEWARD_ENGINE": "offline",
        }
    )
    return env


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Processes]]:
    made: list[Processes] = []
    yield made
    for group in made:
        group.stop_all()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(sandbox: Sandbox, url: str, proc: subprocess.Popen[bytes]) -> None:
    import aiohttp

    async def healthy() -> bool:
        assert proc.poll() is None, "steward serve exited"
        try:
            async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await sandbox.wait_for(healthy, timeout=30)


@pytest.mark.slow
async def test_job_of_a_killed_worker_is_completed_by_another_exactly_once(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path, procs: list[Processes]
) -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        group = Processes(base_env(sandbox, redis_url, tmp_path), tmp_path)
        procs.append(group)
        port = free_port()
        serve = group.start("serve", "--host", "127.0.0.1", "--port", str(port), "--no-workers")
        url = f"http://127.0.0.1:{port}"
        sandbox.app_url = url + "/slack/events"
        sandbox.transport = "http"
        await wait_healthy(sandbox, url, serve)
        worker_options = ("--visibility-timeout", "1", "--max-attempts", "5")
        doomed = group.start("worker", *worker_options)

        # The first attempt to reply hangs inside Slack, so the worker is holding the job.
        sandbox.faults.add("chat.postEphemeral", "delay", delay=60, times=1)
        delivery = await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
        assert delivery.status == 200
        await sandbox.wait_for(lambda: sandbox.in_flight("chat.postEphemeral") == 1, timeout=30)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        # Its connection dropped, so the hung call never took effect.
        await sandbox.wait_for(lambda: sandbox.in_flight("chat.postEphemeral") == 0)
        assert sandbox.calls("chat.postEphemeral") == []

        group.start("worker", *worker_options)
        await sandbox.wait_for(lambda: sandbox.calls("chat.postEphemeral"), timeout=30)

        def drained() -> bool:
            return all(
                redis_sync.xpending(stream, GROUP)["pending"] == 0  # type: ignore[index]
                for stream in STREAMS.values()
                if redis_sync.exists(stream)
            )

        await sandbox.wait_for(drained, timeout=15)
        replies = [e for e in sandbox.ephemerals(user=EMPLOYEE) if "Steward help" in e.text]
        assert len(replies) == 1


def test_serve_without_signing_secret_fails_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": "xoxb-test-secret-value"})
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SLACK_SIGNING_SECRET" in lines[0]
    assert "Traceback" not in result.stderr
    assert "xoxb-test-secret-value" not in result.stderr + result.stdout


def test_unreachable_redis_at_start_fails_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": "xoxb-x",
            "SLACK_SIGNING_SECRET": "s",
            "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "REDIS_URL is unreachable" in result.stderr
    assert "hunter2" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
async def test_serve_with_two_processes_shares_the_port_and_stops_cleanly(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path, procs: list[Processes]
) -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        group = Processes(base_env(sandbox, redis_url, tmp_path), tmp_path)
        procs.append(group)
        port = free_port()
        serve = group.start("serve", "--host", "127.0.0.1", "--port", str(port), "--processes", "2")
        url = f"http://127.0.0.1:{port}"
        sandbox.app_url = url + "/slack/events"
        sandbox.transport = "http"
        await wait_healthy(sandbox, url, serve)
        user = sandbox.user(EMPLOYEE)
        deliveries = [await user.command("/steward", "help", channel=GENERAL) for _ in range(20)]
        assert [d.status for d in deliveries] == [200] * 20

        def answered() -> bool:
            replies = [e for e in sandbox.ephemerals(user=EMPLOYEE) if "Steward help" in e.text]
            return len(replies) == 20

        await sandbox.wait_for(answered, timeout=30)
        children = subprocess.run(
            ["pgrep", "-P", str(serve.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 1  # the second serve process
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
        for pid in children:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
            )
