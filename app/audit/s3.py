"""Object storage for the audit log, through boto3: archive files to an S3-compatible bucket,
and checkpoints to a bucket with Object Lock, where neither the Redis operator nor anyone at
the deployment can rewrite or delete them before their retention ends.

Credentials and region come from boto3's own chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, a profile or an instance role), never from
Redis, and are never logged. boto3 is synchronous, so each call runs in a thread.

- An archive file is put with its SHA-256 (`ChecksumSHA256`): S3 recomputes it and refuses a
  body that does not match, so its success, and a HeadObject that finds the object at the size
  written, are what "confirmed written" means before any event leaves Redis.
- A checkpoint is put with `ObjectLockMode=COMPLIANCE` and `ObjectLockRetainUntilDate` (AWS S3
  User Guide, "Using S3 Object Lock"; PutObject in the S3 API Reference): in compliance mode no
  user, the account root included, can overwrite or delete that version until the date. A
  bucket without Object Lock refuses such a put, and the refusal is reported, not ignored. S3
  requires Content-MD5 or `x-amz-sdk-checksum-algorithm` on a put with a retention period
  (PutObject, "Object Lock"), hence `ChecksumAlgorithm` beside the SHA-256.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from app.audit.checkpoint import Checkpoint
from app.audit.published import Published, parse_line
from app.runtime.settings import Settings

LIST_PAGE = 1000  # S3 lists at most 1,000 keys a page


class S3Error(RuntimeError):
    """S3 refused or could not be reached; the text names the bucket and S3's error code."""


def client(settings: Settings) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=settings.steward_audit_s3_endpoint_url)


def _failure(bucket: str, exc: Exception) -> S3Error:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "error")
        return S3Error(f"s3 {bucket}: {code}")
    return S3Error(f"s3 {bucket}: {type(exc).__name__}")  # e.g. EndpointConnectionError


def _sha256_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


class ArchiveBucket:
    """Where archive files go when STEWARD_AUDIT_ARCHIVE_S3_BUCKET is set."""

    def __init__(self, settings: Settings, s3: Any | None = None) -> None:
        assert settings.steward_audit_archive_s3_bucket
        self.bucket = settings.steward_audit_archive_s3_bucket
        self.prefix = settings.steward_audit_archive_s3_prefix
        self._s3 = s3 or client(settings)

    async def upload(self, path: Path) -> str:
        """Put the file, confirm S3 holds all of it; its s3:// address. S3Error otherwise."""
        return await asyncio.to_thread(self._upload, path)

    def _upload(self, path: Path) -> str:
        body = path.read_bytes()
        key = self.prefix + path.name
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_sha256_b64(body), ContentType="application/x-ndjson",
            )  # fmt: skip
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(self.bucket, exc) from None
        if int(head.get("ContentLength", -1)) != len(body):
            raise S3Error(f"s3 {self.bucket}: {key} holds {head.get('ContentLength')} bytes")
        return f"s3://{self.bucket}/{key}"


class CheckpointBucket:
    """Where checkpoints also go when STEWARD_AUDIT_CHECKPOINT_S3_BUCKET is set."""

    def __init__(self, settings: Settings, s3: Any | None = None) -> None:
        assert settings.steward_audit_checkpoint_s3_bucket
        self.bucket = settings.steward_audit_checkpoint_s3_bucket
        self.prefix = settings.steward_audit_checkpoint_s3_prefix
        self.retain = timedelta(days=settings.steward_audit_checkpoint_s3_retain_days)
        self._s3 = s3 or client(settings)

    def key(self, checkpoint: Checkpoint) -> str:
        # Sorted by size, then time: a listing reads oldest first, like the file.
        stamp = re.sub(r"[^0-9]", "", checkpoint.at)[:20] or "0"
        return f"{self.prefix}{checkpoint.size:015d}-{stamp}.json"

    async def publish(self, checkpoint: Checkpoint) -> tuple[str, str | None]:
        """Put it under Object Lock; (its s3:// address, the version id). S3Error otherwise.
        The lock runs from the wall clock's now, not the runtime's: it is S3 that enforces it."""
        return await asyncio.to_thread(self._publish, checkpoint, datetime.now(UTC))

    def _publish(self, checkpoint: Checkpoint, now: datetime) -> tuple[str, str | None]:
        body = (checkpoint.line() + "\n").encode("utf-8")
        key = self.key(checkpoint)
        try:
            put = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_sha256_b64(body), ContentType="application/json",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=now.astimezone(UTC) + self.retain,
            )  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            raise _failure(self.bucket, exc) from None
        return f"s3://{self.bucket}/{key}", put.get("VersionId")

    async def read(self) -> list[Published]:
        """Every checkpoint under the prefix, oldest first (each object's current version)."""
        return await asyncio.to_thread(self._read)

    def _read(self) -> list[Published]:
        found: list[Published] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": LIST_PAGE}
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"]
                    body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    where = f"s3://{self.bucket}/{key}"
                    found.append(parse_line(body.decode("utf-8", "replace").strip(), where))
        except (ClientError, BotoCoreError) as exc:
            raise _failure(self.bucket, exc) from None
        return found
