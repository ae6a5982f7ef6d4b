"""`steward audit verify | public-key | checkpoint | evidence | check-evidence`: the log checked
against what was published, and the evidence an auditor takes away.

`verify` prints the chain's line as before (`audit chain intact: N events` or `... broken ...`)
and, when checkpoints were published, one line on the tree: the match, or each problem
(`app.audit.tree_check`). Exit 0 only when everything holds; 1 naming what is wrong; 2 for bad
configuration or an unreachable Redis. Its verdict is kept for the admin App Home and recorded as
an `audit_verified` event (`app.audit.integrity`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit import evidence
from app.audit.checkpoints import Checkpointer, CheckpointRefused
from app.audit.event import format_at, utcnow
from app.audit.evidence_build import NoEvidence, evidence_package
from app.audit.export import redis_failure
from app.audit.integrity import cli_runner, save_verify, verify_record
from app.audit.keys import AuditKeys
from app.audit.log import AuditLog
from app.audit.merkle_store import MerkleStore
from app.audit.published import CheckpointFile, Published, read_channel
from app.audit.s3 import CheckpointBucket, S3Error
from app.audit.signing import (
    configured_public_key,
    fingerprint,
    load_signing_key,
    parse_public_key,
    public_key_text,
)
from app.audit.tree_check import TreeReport, TreeWalk, check_tree, signed
from app.audit.verify import VerifyResult
from app.governance.policy_issues import PolicyError
from app.governance.policy_schema import Policy
from app.governance.watch import load_policy_in_force
from app.runtime.settings import FIXES, ConfigError, Settings
from app.slack.port import SlackError, SlackPort, web_client

NEEDS_REDIS = ("verify", "checkpoint", "evidence")


def add_parsers(actions: Any) -> None:
    verify = actions.add_parser(
        "verify", help="check the hash chain and the tree against published checkpoints"
    )
    _public_key_option(verify)
    actions.add_parser("public-key", help="print the checkpoint signing key's public half")
    actions.add_parser("checkpoint", help="sign and publish a checkpoint of the log now")
    package = actions.add_parser("evidence", help="write an interaction's evidence package")
    package.add_argument("interaction_id", metavar="INTERACTION-ID")
    package.add_argument("-o", "--output", required=True, metavar="FILE")
    offline = actions.add_parser(
        "check-evidence", help="verify an evidence package offline (no Redis, no Slack)"
    )
    offline.add_argument("file", metavar="FILE")
    _public_key_option(offline)


def _public_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-key",
        metavar="K",
        help="the log's public key (base64, PEM, or a file holding one); default: the "
        "configured signing key's",
    )


def run(args: argparse.Namespace, settings: Settings, redis_url: str | None) -> int:
    command = args.audit_command
    if command == "public-key":
        return cli_public_key(settings)
    if command == "check-evidence":
        return cli_check_evidence(Path(args.file), args.public_key)
    assert redis_url is not None
    try:
        if command == "verify":
            return asyncio.run(_verify(settings, redis_url, args.public_key))
        if command == "checkpoint":
            return asyncio.run(_checkpoint(settings, redis_url))
        return asyncio.run(_evidence(settings, redis_url, args.interaction_id, args.output))
    except redis.RedisError as exc:
        return redis_failure(exc)


def cli_public_key(settings: Settings) -> int:
    public = load_signing_key(settings).public_key()
    print(public_key_text(public))
    print(f"fingerprint: {fingerprint(public)}", file=sys.stderr)
    return 0


def cli_check_evidence(path: Path, public_key: str | None) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"steward: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    try:
        checkpoint, count = evidence.check(text, public_key)
    except evidence.EvidenceError as exc:
        print(f"evidence does not verify: {exc}")
        return 1
    print(
        f"evidence verifies: {count} events of the log {checkpoint.log_id}, included in its "
        f"first {checkpoint.size} events, checkpoint of {checkpoint.at} signed by key "
        f"{checkpoint.key}"
    )
    return 0


class _Clients:
    """Redis, and Slack when a bot token is set, for one command; closed together."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.slack = SlackPort(web_client(token, settings.slack_api_url)) if token else None
        self.policy: Policy | None = _policy(settings)

    def signer(self, settings: Settings) -> Checkpointer:
        return Checkpointer(self.redis, settings, policy=lambda: self.policy, slack=self.slack)

    async def close(self) -> None:
        if self.slack is not None:
            await self.slack.close()
        await self.redis.aclose()


def _policy(settings: Settings) -> Policy:
    try:
        return load_policy_in_force(settings)
    except (PolicyError, OSError):
        raise ConfigError(
            f"STEWARD_POLICY is invalid or unreadable: {FIXES['STEWARD_POLICY']} "
            "(`steward policy check` names each problem)."
        ) from None


async def _checkpoint(settings: Settings, redis_url: str) -> int:
    clients = _Clients(settings, redis_url)
    try:
        result = await clients.signer(settings).publish_now()
    except CheckpointRefused as exc:
        print(f"checkpoint refused: {exc}")
        return 1
    finally:
        await clients.close()
    if result.checkpoint is None:
        print(f"no checkpoint: {result.skipped}", file=sys.stderr)
        return 1
    cp = result.checkpoint
    print(f"checkpoint signed: {cp.size} events, root {cp.root}, {cp.at}")
    for where in result.published:
        print(f"published: {where}")
    for problem in result.problems:
        print(f"not published: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


async def _evidence(settings: Settings, redis_url: str, interaction_id: str, out: str) -> int:
    clients = _Clients(settings, redis_url)
    try:
        text = await evidence_package(
            AuditLog(clients.redis), clients.signer(settings), interaction_id
        )
    except (NoEvidence, CheckpointRefused, evidence.EvidenceError) as exc:
        print(f"no evidence package: {exc}", file=sys.stderr)
        return 1
    finally:
        await clients.close()
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"steward: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"evidence package written: {out}")
    return 0


async def _verify(settings: Settings, redis_url: str, public_key: str | None) -> int:
    try:
        public = parse_public_key(public_key) if public_key else configured_public_key(settings)
    except ValueError as exc:
        print(f"steward: --public-key: {exc}", file=sys.stderr)
        return 2
    clients = _Clients(settings, redis_url)
    try:
        published, notes = await _published(settings, clients)
        log = AuditLog(clients.redis)
        chain, report = await verify_published(log, published, public)
        record = verify_record(chain, report, at=format_at(utcnow()), by=cli_runner())
        await save_verify(log, record, append_event=not chain.empty)
    finally:
        await clients.close()
    for note in notes:
        print(f"steward: warning: {note}", file=sys.stderr)
    return _print_verdict(chain, report)


async def verify_published(
    log: AuditLog, published: list[Published], public: Ed25519PublicKey | None
) -> tuple[VerifyResult, TreeReport]:
    """The chain's verdict and the tree's, from one walk of the stream."""
    report = signed(published, public)
    signer_store = MerkleStore(log.redis, log.keys)
    walk = TreeWalk(signer_store, {p.checkpoint.size for p in report.checkpoints if p.checkpoint})
    chain = await log.verify(walk)
    last_id = await _last_id(log.redis, log.keys)
    await check_tree(report, walk, signer_store, last_id=last_id, chain_ok=chain.ok)
    return chain, report


async def _published(settings: Settings, clients: _Clients) -> tuple[list[Published], list[str]]:
    found = CheckpointFile(settings.checkpoint_file).read()
    notes: list[str] = []
    channel = clients.policy.audit.checkpoint_channel if clients.policy else None
    if channel and clients.slack is None:
        notes.append(f"the policy publishes to {channel} but SLACK_BOT_TOKEN is unset: not read")
    elif channel and clients.slack is not None:
        try:
            found += await read_channel(clients.slack, channel)
        except SlackError as exc:
            found.append(Published(f"slack {channel}", None, f"unreadable ({exc.code})"))
    if settings.steward_audit_checkpoint_s3_bucket:
        try:
            found += await CheckpointBucket(settings).read()
        except S3Error as exc:
            found.append(Published(str(exc), None, "unreadable"))
    return found, notes


async def _last_id(client: aioredis.Redis, keys: AuditKeys) -> int:
    newest = cast(list[tuple[str, dict[str, str]]], await client.xrevrange(keys.stream, count=1))
    if newest:
        return int(newest[0][1].get("id", 0))
    return int(cast(str | None, await client.hget(keys.anchor, "seq")) or 0)


def _print_verdict(chain: VerifyResult, report: TreeReport) -> int:
    latest = report.latest
    if chain.ok and chain.empty and latest is None and report.ok:
        print(
            "no audit log: this store holds no audit events. Check that REDIS_URL (or "
            "STEWARD_DATA_DIR) points at the deployment's storage.",
            file=sys.stderr,
        )
        return 1
    if not chain.ok:
        print(f"audit chain broken at event {chain.first_bad}: {chain.problem}")
    elif not chain.empty:
        print(f"audit chain intact: {chain.checked} events")
    for problem in report.problems:
        print(f"audit tree: {problem}")
    if latest is not None and latest.checkpoint is not None and report.ok:
        cp = latest.checkpoint
        print(
            f"audit tree matches {len(report.checkpoints)} published checkpoint(s); the latest "
            f"covers {cp.size} events ({cp.at}, {latest.where})"
        )
    elif latest is None and report.ok:
        print(
            "steward: no published checkpoints to check the tree against "
            "(`steward audit checkpoint` signs one)",
            file=sys.stderr,
        )
    return 0 if chain.ok and report.ok else 1
