"""The audit log in S3-compatible storage (issue 15), against a loopback S3 (moto's server, which
enforces Object Lock): checkpoints put under COMPLIANCE retention that no one can delete, read
back by `verify`; archive files confirmed in the bucket before any event leaves Redis, and an
unreachable bucket trims nothing. Real Redis, the real signer, retention job and boto3."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis.asyncio as aioredis
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from app.audit.checkpoints import Checkpointer
from app.audit.cli_attest import _verify
from app.audit.integrity import last_published
from app.audit.log import AuditLog
from app.audit.retention import RetentionJob
from app.audit.s3 import ArchiveBucket, S3Error
from app.runtime.settings import Settings, load_settings
from tests.test_audit import _aged_log

GATE = "steward:audit:retention:gate"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class S3:
    url: str
    client: Any

    def bucket(self, *, lock: bool) -> str:
        name = f"steward-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def s3(s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3:
    """boto3's standard environment, pointing at nothing of the machine's own."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "steward-test",
        "AWS_SECRET_ACCESS_KEY": "steward-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return S3(s3_url, boto3.session.Session().client("s3", endpoint_url=s3_url))


def _settings(tmp_path: Path, s3: S3, **extra: Any) -> Settings:
    return load_settings(steward_data_dir=tmp_path, steward_audit_s3_endpoint_url=s3.url, **extra)


async def test_checkpoints_go_under_object_lock_and_verify_reads_them_back(
    r: aioredis.Redis, redis_url: str, s3: S3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3.bucket(lock=True)
    settings = _settings(tmp_path, s3, steward_audit_checkpoint_s3_bucket=bucket)
    log = AuditLog(r)
    for k in range(5):
        await log.record(interaction_id=f"i{k}", event="requested")
    result = await Checkpointer(r, settings).publish_now()
    assert result.checkpoint is not None and result.problems == []
    (key,) = s3.keys(bucket)
    assert result.published[-1] == f"s3://{bucket}/{key}"
    assert key.startswith("steward/audit/checkpoints/000000000000005-")
    head = s3.client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - datetime.now(UTC)) / timedelta(days=1)
    assert 3649 < days <= 3650
    body = s3.client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert json.loads(body) == result.checkpoint.model_dump()
    with pytest.raises(ClientError) as refused:  # compliance mode: not even its owner
        s3.client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    shown = await last_published(r, log.keys)
    assert shown is not None and [p.kind for p in shown.places] == ["file", "s3"]
    assert shown.places[1].ref == head["VersionId"]

    assert await _verify(settings, redis_url, None) == 0
    assert "audit tree matches 1 published checkpoint(s)" in capsys.readouterr().out
    # The operator wipes Redis and deletes the checkpoint file: the bucket still remembers.
    await r.delete(*[k async for k in r.scan_iter(match="steward:*")])
    settings.checkpoint_file.unlink()
    assert await _verify(settings, redis_url, None) == 1
    out = capsys.readouterr().out
    assert "audit tree: wiped: the store holds no audit events, but the checkpoint of" in out
    assert f"s3://{bucket}/{key}" in out


async def test_a_bucket_without_object_lock_is_a_problem_not_a_lost_checkpoint(
    r: aioredis.Redis, s3: S3, tmp_path: Path
) -> None:
    bucket = s3.bucket(lock=False)
    settings = _settings(tmp_path, s3, steward_audit_checkpoint_s3_bucket=bucket)
    await AuditLog(r).record(interaction_id="i", event="requested")
    result = await Checkpointer(r, settings).publish_now()
    assert result.checkpoint is not None
    assert result.published == [str(settings.checkpoint_file)]  # the file has it
    assert result.problems == [f"s3 {bucket}: InvalidRequest"]
    assert s3.keys(bucket) == []


async def test_archives_are_confirmed_in_the_bucket_before_anything_is_trimmed(
    r: aioredis.Redis, s3: S3, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)  # events 1-5 are 40 days old, 6-8 recent
    missing = f"steward-missing-{uuid.uuid4().hex[:8]}"
    settings = _settings(tmp_path, s3, steward_audit_archive_s3_bucket=missing)
    assert (await Checkpointer(r, settings).publish_now()).checkpoint is not None
    staging = tmp_path / "archive"
    job = RetentionJob(
        log, r, lambda: 30, staging, checkpoints=settings, archive_to=ArchiveBucket(settings)
    )
    with pytest.raises(S3Error, match=f"s3 {missing}: NoSuchBucket"):
        await job.run_once()
    assert await r.xlen("steward:audit") == 8  # not confirmed: nothing trimmed
    assert list(staging.iterdir()) == []  # and nothing half-archived is left to write twice

    bucket = s3.bucket(lock=False)
    settings = _settings(tmp_path, s3, steward_audit_archive_s3_bucket=bucket)
    job.archive_to = ArchiveBucket(settings)
    await r.delete(GATE)
    result = await job.run_once()
    assert result is not None and (result.archived, result.trimmed) == (5, 5)
    (key,) = s3.keys(bucket)
    assert result.location == f"s3://{bucket}/{key}"
    assert key.startswith("steward/audit/archive/audit-") and key.endswith(".jsonl")
    body = s3.client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert [json.loads(line)["id"] for line in body.splitlines()] == [1, 2, 3, 4, 5]
    assert list(staging.iterdir()) == []  # S3 holds it; the staging copy is gone
    assert await r.xlen("steward:audit") == 3
    assert (await r.hgetall("steward:audit:anchor"))["file"] == result.location
    assert (await log.verify()).ok
