"""The chain format: how an audit event is hashed and stored.

Each event carries the hash of the event before it (`prev_hash`) and its own `hash` = SHA-256
over its canonical JSON form (sorted keys, no whitespace, UTF-8, everything but `hash`). Editing,
removing or reordering any event therefore breaks the chain (see `app.audit.verify`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

GENESIS_HASH = "0" * 64  # prev_hash of the very first event


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: every field but `hash`, sorted keys, no whitespace, UTF-8."""
    body = {key: value for key, value in data.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def compute_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def stored_json(data: Mapping[str, Any]) -> str:
    """The form kept in the stream and written to JSONL: canonical, plus `hash`."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
