"""The chain format: how an audit event is hashed and stored.

Each event carries the hash of the event before it (`prev_hash`), its position (`id`) and its own
`hash`, a SHA-256 in two steps:

    body = canonical JSON of every field but `hash`, `id` and `prev_hash`
           (sorted keys, no whitespace, UTF-8)
    hash = SHA-256( "<prev_hash>:<id>:" + SHA-256(body) )
           (prev_hash and hash as lowercase hex; the body's digest as its 32 raw bytes, so the
           line fits two SHA-256 blocks)

The writer hashes the body (which it knows in full); the append script, which alone knows the
chain head, hashes the short link line (`app.audit.scripts`), so an append is one atomic step
with no retry, whatever the event's size. Editing any field changes the body hash; removing or
reordering an event breaks the `prev_hash`/`id` links (see `app.audit.verify`).

Logs written before this format hashed the whole canonical JSON (`prev_hash` and `id` included)
in one step (`legacy_hash`); `hash_matches` accepts either form, so such a log still verifies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

GENESIS_HASH = "0" * 64  # prev_hash of the very first event
# The fields the append script fills in, in their sorted order within the stored JSON.
SCRIPT_FIELDS = ("hash", "id", "prev_hash")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_dumps = _ENCODER.encode  # one encoder, not one per call: appends dump several times each
_GROUP: dict[str, int] = {}  # key -> its position among SCRIPT_FIELDS (0 to 3), memoised


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """Every field but `hash`, sorted keys, no whitespace, UTF-8 (what `legacy_hash` hashed)."""
    return _dumps({key: value for key, value in data.items() if key != "hash"}).encode("utf-8")


def body_json(data: Mapping[str, Any]) -> bytes:
    """The body the writer hashes: every field but `hash`, `id` and `prev_hash`."""
    return _dumps({k: v for k, v in data.items() if k not in SCRIPT_FIELDS}).encode("utf-8")


def body_digest(data: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(body_json(data)).digest()


def link_line(prev_hash: str, seq: int, body: bytes) -> bytes:
    """What the append script hashes (it builds the same line in Lua)."""
    return f"{prev_hash}:{seq}:".encode("ascii") + body


def compute_hash(data: Mapping[str, Any]) -> str:
    """The hash an event with these fields has (`id` and `prev_hash` included in `data`)."""
    prev_hash = str(data.get("prev_hash", GENESIS_HASH))
    return hashlib.sha256(link_line(prev_hash, int(data["id"]), body_digest(data))).hexdigest()


def legacy_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def hash_matches(data: Mapping[str, Any]) -> bool:
    """Whether the event's `hash` is the one its fields give (in either format)."""
    claimed = data.get("hash")
    if isinstance(data.get("id"), int) and claimed == compute_hash(data):
        return True
    return claimed == legacy_hash(data)


def stored_json(data: Mapping[str, Any]) -> str:
    """The form kept in the stream and written to JSONL: sorted, compact, `hash` included."""
    return _dumps(data)


def _inner(part: Mapping[str, Any]) -> str:
    return _dumps(part)[1:-1]  # the members of a dict without its braces


def stored_template(body: Mapping[str, Any]) -> list[str]:
    """`stored_json` of the event cut where the script inserts `hash`, `id` and `prev_hash`:
    stored = t[0] + hash + t[1] + id + t[2] + prev_hash + t[3]."""
    return for_script(body)[1]


def for_script(body: Mapping[str, Any]) -> tuple[bytes, list[str]]:
    """(the body's SHA-256 digest, the stored-JSON template) from one pass over the body.

    The body's members are dumped in four groups, the keys sorted around `hash`, `id` and
    `prev_hash`; joined they are `body_json`, cut at those keys they are the template.
    """
    groups: tuple[dict[str, Any], ...] = ({}, {}, {}, {})
    for key, value in body.items():
        group = _GROUP.get(key)
        if group is None:
            group = _GROUP.setdefault(key, sum(key > name for name in SCRIPT_FIELDS))
        groups[group][key] = value
    before, between, middle, after = (_dumps(group)[1:-1] if group else "" for group in groups)
    text = "{" + ",".join(part for part in (before, between, middle, after) if part) + "}"
    template = [
        "{" + (before + "," if before else "") + '"hash":"',
        '",' + (between + "," if between else "") + '"id":',
        ("," + middle if middle else "") + ',"prev_hash":"',
        '"' + ("," + after if after else "") + "}",
    ]
    return hashlib.sha256(text.encode("utf-8")).digest(), template
