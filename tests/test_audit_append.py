"""One append, one script: SHA-256 in Lua, the stored JSON the script builds, many writers."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.chain import (
    SCRIPT_FIELDS,
    body_json,
    compute_hash,
    for_script,
    stored_json,
    stored_template,
)
from app.audit.event import AuditEvent
from app.audit.log import AuditLog
from app.audit.lua_sha256 import SHA256_LUA

STREAM = "steward:audit"


def _message(size: int, *, wide: bool = False) -> bytes:
    if not wide:
        return bytes((i * 7 + 3) % 256 for i in range(size))
    text = ("é漢🙂a" * size).encode("utf-8")  # multi-byte UTF-8, cut to the exact size
    return text[:size]


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 183, 184, 1000])
async def test_lua_sha256_equals_hashlib(r: aioredis.Redis, size: int) -> None:
    digest = r.register_script(SHA256_LUA + "\nreturn sha256(ARGV[1])")
    for message in (_message(size), _message(size, wide=True)):
        assert await digest(args=[message]) == hashlib.sha256(message).hexdigest()


async def test_lua_sha256_of_non_ascii_text(r: aioredis.Redis) -> None:
    digest = r.register_script(SHA256_LUA + "\nreturn sha256(ARGV[1])")
    text = "prev:12:Zürich — 東京 🙂"
    assert await digest(args=[text]) == hashlib.sha256(text.encode("utf-8")).hexdigest()


@settings(max_examples=80, deadline=None)
@given(
    output=st.text(),
    sources=st.lists(st.text(max_size=12), max_size=4),
    extra=st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3),
    seq=st.integers(min_value=1, max_value=10**12),
)
def test_the_template_the_script_fills_is_the_stored_json(
    output: str, sources: list[str], extra: dict[str, Any], seq: int
) -> None:
    event = AuditEvent(
        id=0,
        at="2024-05-01T00:00:00.000000Z",
        interaction_id="i",
        event="generated",
        output=output,
        sources=sources,
        extra=extra,
    )
    body = event.model_dump(mode="json", exclude=set(SCRIPT_FIELDS))
    prev = "ab" * 32
    data = body | {"id": seq, "prev_hash": prev}
    data["hash"] = compute_hash(data)
    digest, t = for_script(body)
    assert digest == hashlib.sha256(body_json(data)).digest()
    assert t == stored_template(body)
    filled = t[0] + data["hash"] + t[1] + str(seq) + t[2] + prev + t[3]
    assert filled == stored_json(data)
    assert json.loads(filled) == data


async def test_the_hash_the_script_computes_is_the_chain_format(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    first = await log.record(interaction_id="i1", event="requested", output="héllo 東京")
    second = await log.record(interaction_id="i1", event="generated", output="x" * 5000)
    for event, (_, fields) in zip((first, second), await r.xrange(STREAM), strict=True):
        data = json.loads(fields["json"])
        assert data == event.model_dump(mode="json")
        assert compute_hash(data) == data["hash"] == event.hash
    assert second.prev_hash == first.hash and second.id == first.id + 1


async def test_concurrent_tasks_on_several_clients_make_one_chain(
    r: aioredis.Redis, redis_url: str
) -> None:
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(3)]
    logs = [AuditLog(c) for c in (r, *clients)]
    stored = await asyncio.gather(
        *(
            log.record(interaction_id=f"w{w}-{k}", event="requested", actor_id=f"U{w}")
            for k in range(50)
            for w, log in enumerate(logs)
        )
    )
    for client in clients:
        await client.aclose()
    assert sorted(e.id for e in stored) == list(range(1, 201))  # no gap, no duplicate
    by_id = {e.id: e for e in stored}
    for seq in range(2, 201):
        assert by_id[seq].prev_hash == by_id[seq - 1].hash  # what each caller got is the chain
    ids = [int(fields["id"]) for _, fields in await r.xrange(STREAM)]
    assert ids == list(range(1, 201))
    result = await logs[0].verify()
    assert (result.ok, result.checked) == (True, 200)


async def test_append_many_pipelines_real_appends(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await log.record(interaction_id="first", event="requested", actor_id="U1")
    drafts = [
        AuditEvent(
            id=0,
            at="2024-05-01T00:00:00.000000Z",
            interaction_id=f"b{k}",
            event="requested",
            actor_id="U2",
            use_case="summarize",
        )
        for k in range(30)
    ]
    await log.append_many(drafts)
    result = await log.verify()
    assert (result.ok, result.checked) == (True, 31)
    state = await log.state("b29")
    assert state is not None and state.last_event_id == 31
