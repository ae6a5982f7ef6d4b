"""Making checkpoints: sign the tree's head now (`steward audit checkpoint`), or every
STEWARD_AUDIT_CHECKPOINT_EVERY events or STEWARD_AUDIT_CHECKPOINT_SECONDS seconds from each
worker process (`start_checkpoints`, on the runtime's clock, so a test moves time by hand).

Before signing, the new head is proven consistent with the last checkpoint in the file
(`merkle.verify_consistency` on a proof from the store): a signer never vouches for a log that
lost or changed what it vouched for before; it refuses, and says so in the log, every time it
is asked. A Redis lock lets one process sign at a time; `{p}:audit:checkpoint:last` only says
when the next one is due, and a wiped hint costs nothing but an early checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import merkle
from app.audit.checkpoint import Checkpoint
from app.audit.event import format_at
from app.audit.integrity import Place, save_published
from app.audit.keys import AuditKeys
from app.audit.merkle_store import MerkleStore, MissingNodes
from app.audit.published import CheckpointFile, post
from app.audit.s3 import CheckpointBucket, S3Error
from app.audit.scripts import RELEASE_LUA
from app.audit.signing import fingerprint, load_signing_key
from app.audit.stream import AuditStream
from app.governance.policy_schema import Policy
from app.runtime.clock import SYSTEM, Clock, sleep_unless
from app.runtime.queue import Worker
from app.runtime.services import Services
from app.runtime.settings import Settings
from app.slack.port import SlackError, SlackPort

log = logging.getLogger(__name__)

TICK = 5.0  # seconds between due checks in a worker process
LOCK_MS = 60_000


class CheckpointRefused(RuntimeError):
    """The log no longer extends what an earlier checkpoint signed: nothing was signed."""


@dataclass
class CheckpointResult:
    checkpoint: Checkpoint | None
    published: list[str] = field(default_factory=list)  # where it went
    problems: list[str] = field(default_factory=list)  # where it could not go, and why
    skipped: str | None = None


class Checkpointer:
    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        *,
        policy: Callable[[], Policy | None] = lambda: None,
        slack: SlackPort | None = None,
        clock: Clock = SYSTEM,
        keys: AuditKeys | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = keys or AuditKeys()
        self.store = MerkleStore(redis, self.keys)
        self.stream = AuditStream(redis, self.keys)
        self.file = CheckpointFile(settings.checkpoint_file)
        self.policy = policy  # read per checkpoint: the policy may be reloaded
        self.slack = slack
        self.clock = clock
        self._key: Ed25519PrivateKey | None = None
        self._bucket: CheckpointBucket | None = None
        self._release = redis.register_script(RELEASE_LUA)

    def bucket(self) -> CheckpointBucket:
        if self._bucket is None:
            self._bucket = CheckpointBucket(self.settings)
        return self._bucket

    def signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_signing_key(self.settings)
        return self._key

    @property
    def log_id(self) -> str:
        configured = self.settings.steward_audit_log_id
        return configured or f"steward/{fingerprint(self.signing_key().public_key())[:16]}"

    async def publish_now(self) -> CheckpointResult:
        """Sign the tree as it stands and publish it to the file and the policy's channel."""
        token = uuid.uuid4().hex
        if not await self.redis.set(self.keys.checkpoint_lock, token, nx=True, px=LOCK_MS):
            return CheckpointResult(None, skipped="another process is signing a checkpoint")
        try:
            return await self._publish()
        finally:
            await self._release(keys=[self.keys.checkpoint_lock], args=[token])

    async def _publish(self) -> CheckpointResult:
        size = await self.store.size()
        if size is None or size < (await self.stream.read_head())[1]:
            try:  # a log begun before the tree: build it from the events first
                size = await self.store.catch_up(self.stream)
            except MissingNodes as exc:
                raise CheckpointRefused(f"no tree can cover this log: {exc}") from None
        root = await self.store.root(size)
        key = self.signing_key()
        await self._check_extends(key, size, root)
        moment = self.clock.time()
        at = format_at(_utc(moment))
        checkpoint = Checkpoint.sign(key, log_id=self.log_id, size=size, root=root, at=at)
        self.file.append(checkpoint)
        result = CheckpointResult(checkpoint, published=[str(self.file.path)])
        places = [Place(kind="file", where=str(self.file.path))]
        policy = self.policy()
        channel = policy.audit.checkpoint_channel if policy else None
        if channel and self.slack is not None:
            try:
                ts = await post(self.slack, channel, checkpoint)
                result.published.append(f"slack {channel} {ts}")
                places.append(Place(kind="slack", where=channel, ref=ts))
            except SlackError as exc:
                result.problems.append(f"slack {channel}: {exc.code}")
        elif channel:
            result.problems.append(f"slack {channel}: no SLACK_BOT_TOKEN to post with")
        if self.settings.steward_audit_checkpoint_s3_bucket:
            try:
                where, version = await self.bucket().publish(checkpoint)
                result.published.append(where)
                places.append(Place(kind="s3", where=where, ref=version))
            except S3Error as exc:
                result.problems.append(str(exc))
        await self.redis.hset(self.keys.checkpoint_last, mapping={"size": size, "at": moment})
        await save_published(self.redis, self.keys, checkpoint, places, result.problems)
        log.info(
            "audit checkpoint published",
            extra={"size": size, "root": checkpoint.root, "published": result.published,
                   "problems": result.problems},
        )  # fmt: skip
        return result

    async def _check_extends(self, key: Ed25519PrivateKey, size: int, root: bytes) -> None:
        public = key.public_key()
        signed = [p.checkpoint for p in self.file.read() if p.checkpoint is not None]
        mine = [c for c in signed if c.log_id == self.log_id and c.signed_by(public)]
        if not mine:
            return
        last = max(mine, key=lambda c: c.size)
        if last.size > size:
            raise CheckpointRefused(
                f"the log holds {size} events, fewer than the {last.size} the checkpoint of "
                f"{last.at} covers: events were removed, nothing was signed"
            )
        proof = await self.store.consistency_proof(last.size, size)
        if not merkle.verify_consistency(last.size, size, last.root_bytes, root, proof):
            raise CheckpointRefused(
                f"the log's first {last.size} events are not the ones the checkpoint of "
                f"{last.at} covers: history was rewritten, nothing was signed"
            )

    async def run_once(self) -> CheckpointResult | None:
        """Publish if enough events or time passed since the last checkpoint, else None."""
        now = self.clock.time()
        last = cast(dict[str, str], await self.redis.hgetall(self.keys.checkpoint_last))
        if not last:  # the first check of a log: its period starts now
            await self.redis.hsetnx(self.keys.checkpoint_last, "size", 0)
            await self.redis.hsetnx(self.keys.checkpoint_last, "at", now)
            return None
        size = await self.store.size()
        covered = int(last.get("size", 0))
        if size is None or size <= covered:
            return None
        every = self.settings.steward_audit_checkpoint_every
        seconds = self.settings.steward_audit_checkpoint_seconds
        if size - covered < every and now - float(last.get("at", 0)) < seconds:
            return None
        return await self.publish_now()

    async def run(self, stopped: Callable[[], bool], stop: asyncio.Event) -> None:
        """Check every TICK until `stopped()`; `stop` being set cuts a wait short."""
        while not stopped():
            try:
                await self.run_once()
            except Exception:  # Redis down, a refusal: say so, and ask again next tick
                log.exception("audit checkpoint failed")
            await sleep_unless(self.clock, stop, TICK)


def _utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def start_checkpoints(
    services: Services,
    spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None],
    workers: Sequence[Worker],
    clock: Clock = SYSTEM,
) -> Checkpointer:
    """Check for a due checkpoint beside `workers`, until they have all been told to stop."""
    checkpointer = Checkpointer(
        services.redis,
        services.settings,
        policy=lambda: services.policy,
        slack=services.slack,
        clock=clock,
        keys=services.audit.keys,
    )

    async def run() -> None:
        stop = workers[0]._stop if workers else asyncio.Event()
        await checkpointer.run(lambda: not workers or all(w._stop.is_set() for w in workers), stop)

    spawn(run)
    return checkpointer
