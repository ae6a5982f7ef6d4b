"""Verification: recompute the chain and name the first event that was edited, removed or
reordered (see `app.audit.chain` for what is hashed)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.audit.chain import GENESIS_HASH, hash_matches
from app.audit.stream import AuditStream

LOOKAHEAD = 1000  # how far verify() looks for a missing event before calling it removed

ProblemKind = Literal["edited", "removed", "reordered"]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad: str | None = None  # the id of the first event that was edited/removed/reordered
    problem: str | None = None  # "<kind>: <sentence for a person>"
    kind: ProblemKind | None = None
    empty: bool = False  # no audit log at all: nothing written, nothing archived


class LeafSink(Protocol):
    """What else wants each verified event's hash, in chain order (the Merkle tree check), so
    one walk of the stream serves both."""

    async def begin(self, after_seq: int) -> None:
        """A walk starts after event `after_seq` (the archive anchor's, or 0)."""

    def leaf(self, hash_hex: str) -> None:
        """The next event linked on; this is its hash."""


async def verify_chain(stream: AuditStream, sink: LeafSink | None = None) -> VerifyResult:
    """Recompute the chain from the anchor (or genesis) to the end of the stream.

    The head is read first, so a missing tail (the newest events deleted) is noticed: the
    head remembers them. Events appended while this runs are checked too.
    """
    anchor = await stream.hash(stream.keys.anchor)
    result = await _verify_from(stream, anchor, sink)
    if not result.ok and await stream.hash(stream.keys.anchor) != anchor:
        # A concurrent archive trimmed events this walk expected: walk again from its anchor.
        result = await _verify_from(stream, await stream.hash(stream.keys.anchor), sink)
    return result


async def _verify_from(
    stream: AuditStream, anchor: Mapping[str, str], sink: LeafSink | None
) -> VerifyResult:
    _, end_seq = await stream.read_head()
    walk = ChainWalk(anchor.get("hash", GENESIS_HASH), int(anchor.get("seq", 0)) + 1)
    if sink is not None:
        await sink.begin(walk.expected_seq - 1)
    start = "(" + anchor["stream_id"] if anchor.get("stream_id") else "-"
    async for sid, fields in stream.iter_stored(start):
        bad = walk.step(fields)
        if bad == "lookahead":
            bad = await _classify_jump(stream, walk, sid)
        if bad is not None:
            return bad
        if sink is not None:
            sink.leaf(walk.expected_prev)
    if walk.expected_seq <= end_seq:
        return _bad(
            "removed",
            walk.expected_seq,
            walk.checked,
            f"event {walk.expected_seq} is missing: the log ends before event {end_seq}, "
            "the last one written",
        )
    empty = walk.checked == 0 and end_seq == 0 and not anchor
    return VerifyResult(ok=True, checked=walk.checked, empty=empty)


async def _classify_jump(stream: AuditStream, walk: ChainWalk, sid: str) -> VerifyResult:
    """An event with a later id than expected: was the expected one moved, or removed?"""
    seq, missing = walk.jump_seq, walk.expected_seq
    page = await stream.range("(" + sid, "+", LOOKAHEAD)
    if any(fields.get("id") == str(missing) for _, fields in page):
        return _bad(
            "reordered",
            seq,
            walk.checked,
            f"event {seq} is stored before event {missing}",
        )
    gap = f"event {missing} is" if seq == missing + 1 else f"events {missing}-{seq - 1} are"
    return _bad(
        "removed",
        missing,
        walk.checked,
        f"{gap} missing: event {seq}'s prev_hash does not link to event {missing - 1}",
    )


class ChainWalk:
    """The running state of a verification: what the next event must look like."""

    def __init__(self, prev_hash: str, expected_seq: int) -> None:
        self.expected_prev = prev_hash
        self.expected_seq = expected_seq
        self.checked = 0
        self.jump_seq = 0

    def step(self, fields: Mapping[str, str]) -> VerifyResult | Literal["lookahead"] | None:
        """Check one entry; None when it links on, a VerifyResult when the chain breaks."""
        data = _load_entry(fields)
        if data is None:
            label = fields.get("id", "?")
            return _bad("edited", label, self.checked, f"event {label} is not a valid audit event")
        seq = int(data["id"])
        if not hash_matches(data):
            return _bad("edited", seq, self.checked, f"event {seq} does not match its hash")
        if seq > self.expected_seq:
            self.jump_seq = seq
            return "lookahead"
        if seq < self.expected_seq:
            return _bad(
                "reordered",
                seq,
                self.checked,
                f"event {seq} is stored after event {self.expected_seq - 1}",
            )
        if data.get("prev_hash") != self.expected_prev:
            # In place, self-consistent, yet not linked: the event before was rewritten
            # together with its hash.
            before = seq - 1
            return _bad(
                "edited",
                before,
                self.checked,
                f"event {before} was rewritten: event {seq}'s prev_hash does not match its hash",
            )
        self.expected_prev = str(data["hash"])
        self.expected_seq += 1
        self.checked += 1
        return None


def _load_entry(fields: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        data = json.loads(fields.get("json", ""))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    return data


def _bad(kind: ProblemKind, seq: int | str, checked: int, message: str) -> VerifyResult:
    return VerifyResult(
        ok=False, checked=checked, first_bad=str(seq), problem=f"{kind}: {message}", kind=kind
    )
