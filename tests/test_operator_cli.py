"""Operator-facing bugs of issue 12, each through the real CLI (subprocesses) where it shows.

Bad input or configuration is one clear line and exit 2; pipes, signals and empty stores behave
as an operator expects; every long-running process can report health and metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import redis
import redis.asyncio as aioredis

from app.audit.log import AuditLog
from app.runtime import logs
from app.sandbox import Sandbox, seed_demo_workspace
from tests.e2e import SECRET, running_stack
from tests.test_audit_cli import steward
from tests.test_e2e_processes import Processes, base_env, free_port, procs  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "STEWARD_"))}
    clean.pop("PORT", None)
    clean["PYTHONPATH"] = str(ROOT)
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ----------------------------------------------------------------------- bad input, exit 2


def test_an_unknown_log_level_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli("--log-level", "LOUD", "policy", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert "--log-level" in one_line(result.stderr) and "DEBUG, INFO" in result.stderr
    result = run_cli("policy", "check", env={"STEWARD_LOG_LEVEL": "loud"}, cwd=tmp_path)
    assert result.returncode == 2 and "STEWARD_LOG_LEVEL" in one_line(result.stderr)


def test_a_malformed_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli("serve", env={"PORT": "abc"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "PORT is malformed" in one_line(result.stderr)
    result = run_cli("serve", "--port", "abc", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not a port number" in result.stderr


# ------------------------------------------------------------------------------- policies


SUMMARISE = "admins: [U0ADMIN]\nuse_cases:\n  summarise:\n    channels: ['*']\n"


def test_an_unknown_use_case_name_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "policy.yml").write_text(SUMMARISE)
    result = run_cli("policy", "check", "policy.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert "line 3: use_cases.summarise: unknown use case 'summarise'" in result.stdout
    assert "(did you mean 'summarize'?)" in result.stdout


def test_policy_check_reads_steward_policy_from_dot_env(tmp_path: Path) -> None:
    (tmp_path / "custom.yml").write_text(SUMMARISE)
    (tmp_path / ".env").write_text("STEWARD_POLICY=custom.yml\n")
    result = run_cli("policy", "check", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("custom.yml: line 3:")


# ---------------------------------------------------------------------------- audit CLI


def test_audit_verify_on_an_empty_store_says_there_is_no_audit_log(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    result = steward(redis_url, tmp_path, "audit", "verify")
    assert result.returncode == 1
    assert "no audit log" in result.stderr and "intact" not in result.stdout


def test_audit_export_into_a_pipe_closed_early_ends_quietly(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    async def fill() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        log = AuditLog(client)
        for n in range(600):  # far more than a pipe's buffer holds
            await log.record(
                event="requested", use_case="summarize", interaction_id=f"i{n}", actor_id="U1"
            )
        await client.aclose()

    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "REDIS_URL"))}
    env.update({"REDIS_URL": redis_url, "STEWARD_DATA_DIR": str(tmp_path)})
    errors = tmp_path / "stderr.txt"
    pipeline = f"{sys.executable} -m app.cli audit export 2>{errors} | head -n 1"
    result = subprocess.run(
        ["bash", "-c", "set -o pipefail; " + pipeline],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(result.stdout)["event"] == "requested"
    stderr = errors.read_text()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
    assert result.returncode == 141  # export ended as a command killed by SIGPIPE would


# ------------------------------------------------------------------------ serve at start


async def test_serve_refuses_a_placeholder_or_rejected_token_before_serving(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        env = base_env(sandbox, redis_url, tmp_path) | {"PORT": str(free_port())}
        placeholder = await asyncio.to_thread(
            run_cli, "serve", env=env | {"SLACK_BOT_TOKEN": "xoxb-your-bot-token"}, cwd=tmp_path
        )
        rejected = await asyncio.to_thread(
            run_cli, "serve", env=env | {"SLACK_BOT_TOKEN": "xoxb-revoked-123"}, cwd=tmp_path
        )
    for result in (placeholder, rejected):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr and "serving" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("steward: SLACK_BOT_TOKEN ")
    assert "placeholder" in placeholder.stderr
    assert "refused by Slack (invalid_auth)" in rejected.stderr
    assert "xoxb-revoked-123" not in rejected.stderr


async def test_serve_says_serving_only_after_its_checks_pass(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    (tmp_path / "policy.yml").write_text(SUMMARISE)
    async with Sandbox(signing_secret=SECRET) as sandbox:
        env = base_env(sandbox, redis_url, tmp_path) | {"PORT": str(free_port())}
        result = await asyncio.to_thread(run_cli, "serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "serving" not in result.stderr
    assert "STEWARD_POLICY is invalid" in result.stderr.strip().splitlines()[-1]


# ---------------------------------------------------------------------------- logs, Bolt


def test_log_timestamps_are_iso_8601_utc(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("INFO")
        logging.getLogger("steward.test").info("hello", extra={"n": 1})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["at"]), line["at"]
    assert abs(time.time() - _epoch(line["at"])) < 3600  # UTC, not the host's local time


def _epoch(at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


async def test_bolt_does_not_warn_about_an_unused_token_at_start(
    redis_url: str,
    redis_sync: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")  # as in a deployment
    with caplog.at_level(logging.WARNING):
        async with running_stack(redis_url, tmp_path):
            pass
    assert not [r for r in caplog.records if "will be unused" in r.getMessage()]


# -------------------------------------------------------------- long-running processes


async def get(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_socket_stops_on_a_signal_while_it_cannot_connect(
    redis_url: str,
    redis_sync: redis.Redis,
    tmp_path: Path,
    procs: list[Processes],  # noqa: F811
    stop: signal.Signals,
) -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:  # only for its wait_for
        env = base_env(sandbox, redis_url, tmp_path)
        # Slack is unreachable: the Socket Mode client keeps retrying to connect.
        env["SLACK_API_URL"] = f"http://127.0.0.1:{free_port()}/api/"
        env["SLACK_APP_TOKEN"] = sandbox.app_token
        group = Processes(env, tmp_path)
        procs.append(group)
        health = free_port()
        proc = group.start("socket", "--health-port", str(health))
        url = f"http://127.0.0.1:{health}"

        async def healthy() -> bool:
            assert proc.poll() is None, "steward socket exited"
            status, _ = await get(url + "/healthz")
            return status == 200

        await sandbox.wait_for(healthy, timeout=30)
        status, text = await get(url + "/metrics")
        assert status == 200 and "steward_jobs_enqueued_total" in text
        proc.send_signal(stop)
        assert await asyncio.to_thread(proc.wait, 20) == 0


async def test_worker_serves_health_and_metrics_on_its_port(
    redis_url: str,
    redis_sync: redis.Redis,
    tmp_path: Path,
    procs: list[Processes],  # noqa: F811
) -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        group = Processes(base_env(sandbox, redis_url, tmp_path), tmp_path)
        procs.append(group)
        health = free_port()
        proc = group.start("worker", "--health-port", str(health))
        url = f"http://127.0.0.1:{health}"

        async def healthy() -> bool:
            assert proc.poll() is None, "steward worker exited"
            status, body = await get(url + "/healthz")
            return status == 200 and json.loads(body) == {"status": "ok"}

        await sandbox.wait_for(healthy, timeout=30)
        status, text = await get(url + "/metrics")
        assert status == 200 and "steward_queue_depth" in text
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
