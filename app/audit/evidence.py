"""Evidence packages: one interaction's events, proven to be in the signed log, checkable offline.

A package (`steward audit evidence ID -o FILE`) is canonical JSON (sorted keys, two-space indent,
ASCII), holding the interaction's events as stored, each event's inclusion proof (RFC 6962
§2.1.1) against a signed checkpoint, that checkpoint, and its public key and fingerprint.

`check` (`steward audit check-evidence FILE [--public-key K]`) needs neither Redis nor Slack: it
recomputes each event's chain hash from its fields, hashes it as a leaf, walks its proof to the
checkpoint's root, and checks the checkpoint's signature. The file must be exactly the canonical
form of what it says, so no byte of it can change without the check failing. The auditor should
obtain the public key (or its fingerprint) from the operator separately: the key inside the
package proves only that the package is self-consistent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from app.audit import merkle
from app.audit.chain import hash_matches
from app.audit.checkpoint import Checkpoint
from app.audit.event import AuditEvent
from app.audit.signing import fingerprint, parse_public_key, public_key_text

FORMAT = "steward-audit-evidence/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class EvidenceError(ValueError):
    """The package does not prove what it claims; the message says which part fails."""


def build(
    interaction_id: str,
    events: list[AuditEvent],
    proofs: list[list[bytes]],
    checkpoint: Checkpoint,
    public: Ed25519PublicKey,
) -> str:
    """The package's text (`events` in chain order, `proofs` each event's inclusion proof)."""
    package = {
        "format": FORMAT,
        "interaction_id": interaction_id,
        "checkpoint": checkpoint.model_dump(mode="json"),
        "public_key": public_key_text(public),
        "public_key_fingerprint": fingerprint(public),
        "events": [
            {
                "leaf_index": event.id - 1,
                "event": json.loads(event.to_json()),
                "inclusion_proof": [node.hex() for node in proof],
            }
            for event, proof in zip(events, proofs, strict=True)
        ],
    }
    return canonical(package)


def canonical(package: dict[str, Any]) -> str:
    return json.dumps(package, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def check(text: str, public_key: str | None = None) -> tuple[Checkpoint, int]:
    """(the checkpoint, how many events) once every part verifies; EvidenceError otherwise."""
    try:
        package = json.loads(text)
    except ValueError:
        raise EvidenceError("the file is not JSON") from None
    if not isinstance(package, dict) or canonical(package) != text:
        raise EvidenceError("the file is not in its canonical form: it was changed")
    _require(package.get("format") == FORMAT, f"format is not {FORMAT}")
    checkpoint = _checkpoint(package)
    public = _key(package, checkpoint, public_key)
    _require(checkpoint.signed_by(public), "the checkpoint's signature does not verify")
    events = package.get("events")
    if not isinstance(events, list) or not events:
        raise EvidenceError("the package holds no events")
    for position, item in enumerate(events, 1):
        _check_event(position, item, package.get("interaction_id"), checkpoint)
    return checkpoint, len(events)


def _checkpoint(package: dict[str, Any]) -> Checkpoint:
    try:
        return Checkpoint.model_validate(package.get("checkpoint"))
    except ValidationError:
        raise EvidenceError("the checkpoint is malformed") from None


def _key(package: dict[str, Any], checkpoint: Checkpoint, given: str | None) -> Ed25519PublicKey:
    try:
        public = parse_public_key(given or str(package.get("public_key", "")))
    except ValueError as exc:
        raise EvidenceError(f"the public key is unusable: {exc}") from None
    if given is None:
        _require(
            package.get("public_key_fingerprint") == fingerprint(public),
            "the public key does not match its fingerprint",
        )
    _require(
        checkpoint.key == fingerprint(public),
        f"the checkpoint was signed by key {checkpoint.key[:16]}…, not {fingerprint(public)[:16]}…",
    )
    return public


def _check_event(position: int, item: Any, interaction_id: Any, checkpoint: Checkpoint) -> None:
    fail: Callable[[str], EvidenceError] = lambda why: EvidenceError(f"event {position}: {why}")  # noqa: E731
    if not isinstance(item, dict) or not isinstance(item.get("event"), dict):
        raise fail("malformed")
    event, index, proof = item["event"], item.get("leaf_index"), item.get("inclusion_proof")
    if event.get("interaction_id") != interaction_id:
        raise fail("belongs to another interaction")
    if not hash_matches(event) or not _HEX64.fullmatch(str(event.get("hash"))):
        raise fail("its fields do not match its hash: the event was changed")
    if not isinstance(index, int) or isinstance(index, bool) or index != event.get("id", 0) - 1:
        raise fail("its leaf index is not its position in the log")
    if not isinstance(proof, list) or not all(_HEX64.fullmatch(str(p)) for p in proof):
        raise fail("its inclusion proof is malformed")
    leaf = merkle.leaf_hash(bytes.fromhex(event["hash"]))
    nodes = [bytes.fromhex(p) for p in proof]
    if not merkle.verify_inclusion(index, checkpoint.size, leaf, nodes, checkpoint.root_bytes):
        raise fail(f"its inclusion proof does not lead to the checkpoint's root ({index=})")


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise EvidenceError(problem)
