"""`steward audit verify|export` and `steward usage` as an operator runs them: subprocesses."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from app.audit.export import CSV_COLUMNS
from app.audit.log import AuditLog
from tests.test_audit import edit_event, rewrite

ROOT = Path(__file__).resolve().parent.parent


def steward(
    redis_url: str | None, data_dir: Path, *args: str, stderr: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "REDIS_URL"))}
    env["STEWARD_DATA_DIR"] = str(data_dir)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=stderr is None,
        stderr=stderr,
        stdout=subprocess.PIPE if stderr is not None else None,
        text=True,
        timeout=60,
    )


def fill(redis_url: str) -> None:
    """Two summaries by U1 (one low-confidence), one by U2, and a rejected draft."""

    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        log = AuditLog(client)
        for iid, user, confidence in (("s1", "U1", 0.9), ("s2", "U1", 0.2), ("s3", "U2", 0.8)):
            base = {"interaction_id": iid, "actor_id": user, "channel_id": "C1"}
            await log.record(event="requested", use_case="summarize", **base)
            await log.record(
                event="generated",
                use_case="summarize",
                confidence=confidence,
                model="gpt-4o-mini",
                engine="openai",
                tokens_in=1000,
                tokens_out=100,
                output='a, "quoted"\nmultiline output',
                **base,
            )
        draft = {"interaction_id": "d1", "actor_id": "U2", "channel_id": "C2", "use_case": "draft"}
        await log.record(event="requested", **draft)
        await log.record(event="approval_requested", approval_status="pending", **draft)
        await log.record(event="rejected", approval_status="rejected", reason="off-brand", **draft)
        await client.aclose()

    asyncio.run(run())


def test_verify_passes_then_names_the_tampered_event(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill(redis_url)
    ok = steward(redis_url, tmp_path, "audit", "verify")
    assert (ok.returncode, ok.stdout.strip()) == (0, "audit chain intact: 9 events")
    assert "steward: storage: Redis at" in ok.stderr

    async def tamper() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        await rewrite(client, lambda entries: edit_event(entries, 3, confidence=0.99))
        await client.aclose()

    asyncio.run(tamper())
    bad = steward(redis_url, tmp_path, "audit", "verify")
    assert bad.returncode == 1
    assert bad.stdout.startswith("audit chain broken at event 4: edited")


def test_csv_export_is_valid_and_filtered(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill(redis_url)
    done = steward(redis_url, tmp_path, "audit", "export", "--format", "csv", "--user", "U1")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["id"], r["actor_id"]) for r in rows] == [(str(n), "U1") for n in (1, 2, 3, 4)]
    assert rows[1]["output"] == 'a, "quoted"\nmultiline output'  # quoting survives
    assert "exported" not in done.stderr  # piped: no progress counter

    pending = steward(
        redis_url, tmp_path, "audit", "export", "--status", "pending", "--use-case", "draft"
    )
    assert [json.loads(x)["event"] for x in pending.stdout.splitlines()] == ["approval_requested"]


def test_export_to_a_file_with_a_progress_counter_on_a_terminal(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill(redis_url)
    target = tmp_path / "out.jsonl"
    main, child = pty.openpty()
    try:
        done = steward(
            redis_url, tmp_path, "audit", "export", "--since", "2000-01-01", "-o", str(target),
            stderr=child,
        )  # fmt: skip
        os.close(child)
        child = -1
        shown = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if child >= 0:
            os.close(child)
        os.close(main)
    assert done.returncode == 0
    assert "exported 9 events" in shown.decode()
    assert [json.loads(x)["id"] for x in target.read_text().splitlines()] == list(range(1, 10))


def test_usage_report_in_the_terminal(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill(redis_url)
    done = steward(redis_url, tmp_path, "usage", "--days", "7")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Steward usage — last 7 days")
    assert "interactions          4" in out
    assert "approval rate         ░░░░░░░░░░ 0% (0/1)" in out
    assert "low confidence        1 of 3 outputs" in out
    assert "tokens                3,000 in / 300 out" in out
    # 3,000 in x $0.15/M + 300 out x $0.60/M for gpt-4o-mini
    assert f"estimated cost        {'<$0.01'}" in out
    assert "off-brand" in out


def test_bad_configuration_exits_2(redis_sync: redis.Redis, tmp_path: Path) -> None:
    unreachable = steward("redis://127.0.0.1:1/0", tmp_path, "audit", "verify")
    assert unreachable.returncode == 2
    assert "REDIS_URL is unreachable" in unreachable.stderr
    bad_days = steward("redis://127.0.0.1:1/0", tmp_path, "usage", "--days", "0")
    assert bad_days.returncode == 2 and "--days" in bad_days.stderr


@pytest.mark.parametrize("args", [["audit", "export", "--since", "last week"]])
def test_bad_export_arguments_exit_2(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path, args: list[str]
) -> None:
    done = steward(redis_url, tmp_path, *args)
    assert done.returncode == 2 and "--since/--until" in done.stderr


def test_malformed_prices_file_exits_2(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    (tmp_path / "prices.yml").write_text("gpt-4o: cheap\n")
    done = steward(redis_url, tmp_path, "usage")
    assert done.returncode == 2 and "prices.yml" in done.stderr
