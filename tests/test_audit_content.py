"""`audit.content: full | redacted | hashed`: what the log keeps of outputs. Source message
text is never kept in any mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from app.audit.content import kept
from app.audit.event import AuditEvent
from app.governance.policy import load_policy_text
from tests.conftest import MARKER, MARKER_TEXT
from tests.e2e import EMPLOYEE, LAUNCH, running_stack
from tests.test_e2e_draft import write_policy
from tests.test_e2e_summarize import launch_thread, results

OUTPUT = "Ana (ana@acme.com, +44 20 7946 0958) owns the launch checklist."
EVENT = AuditEvent(
    id=0, at="2024-06-30T12:00:00.000000Z", interaction_id="i1", event="edited",
    output=OUTPUT, extra={"previous": "Draft for ana@acme.com", "step": 1},
)  # fmt: skip


def test_full_keeps_the_output_as_shown() -> None:
    assert kept(EVENT, "full") == EVENT


def test_redacted_keeps_the_output_with_redaction_applied() -> None:
    event = kept(EVENT, "redacted")
    assert event.output == "Ana ([EMAIL_1], [PHONE_1]) owns the launch checklist."
    assert event.extra["previous"] == "Draft for [EMAIL_1]"  # one numbering for both
    assert event.extra["output_redactions"] == {"email": 2, "phone": 1}
    assert event.extra["content"] == "redacted" and event.extra["step"] == 1


def test_hashed_keeps_only_sha256_of_the_output() -> None:
    event = kept(EVENT, "hashed")
    assert event.output is None and "previous" not in event.extra
    assert event.extra["output_sha256"] == hashlib.sha256(OUTPUT.encode()).hexdigest()
    assert event.extra["previous_sha256"] == hashlib.sha256(b"Draft for ana@acme.com").hexdigest()
    unchanged = AuditEvent(id=0, at=EVENT.at, interaction_id="i2", event="approved")
    assert kept(unchanged, "hashed") == unchanged  # nothing to hash: no marker either


def test_the_policy_takes_the_setting_and_refuses_others() -> None:
    policy = load_policy_text("audit: {content: hashed}\n")
    assert policy.audit.content == "hashed"
    assert load_policy_text("admins: []\n").audit.content == "full"
    try:
        load_policy_text("audit: {content: encrypted}\n")
    except Exception as exc:  # the policy's own error type, with the line
        assert "content" in str(exc)
    else:
        raise AssertionError("an unknown audit.content was accepted")


async def _dump(redis: aioredis.Redis, pattern: str) -> str:
    """Every value under the keys matching `pattern`, whatever their type, as one text."""
    parts: list[str] = []
    async for key in redis.scan_iter(match=pattern):
        if ":merkle" in key:  # the tree's nodes: 32-byte hashes, binary, no text
            continue
        kind = await redis.type(key)
        value: Any
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            continue
        parts.append(json.dumps(value, default=list, ensure_ascii=False))
    return "\n".join(parts)


async def _summarise_with(tmp_path: Path, redis_url: str, content: str) -> tuple[str, str, list]:
    tmp_path.mkdir()
    policy = write_policy(
        tmp_path,
        f"use_cases:\n  summarize:\n    channels: ['*']\naudit: {{content: {content}}}\n",
    )
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as stack:
        sandbox = stack.sandbox
        parent = launch_thread(sandbox)
        await sandbox.user(EMPLOYEE).message_shortcut("summarize_thread", parent)
        await sandbox.wait_for(lambda: results(sandbox))
        redis = stack.runtime.services.redis
        events = [e async for e in stack.runtime.services.audit.export()]
        log = await _dump(redis, "steward:audit*") + await _dump(redis, "steward:interaction:*")
        sources = [m.text for m in sandbox.thread(LAUNCH, parent.ts)]
    return log, json.dumps([s for s in sources if len(s) > 30]), events


async def test_hashed_stores_no_output_text_and_no_source_text(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    log, sources_json, events = await _summarise_with(tmp_path / "full", redis_url, "full")
    output = next(e.output for e in events if e.event == "generated")
    lines = [line for line in output.splitlines() if len(line) > 20]
    assert lines and all(json.dumps(line)[1:-1] in log for line in lines)  # full: it is there

    await (await _flushed(redis_url)).aclose()  # the second run starts from an empty store
    log, sources_json, events = await _summarise_with(tmp_path / "hashed", redis_url, "hashed")
    generated = next(e for e in events if e.event == "generated")
    assert generated.output is None and generated.extra["content"] == "hashed"
    assert generated.extra["output_sha256"] == hashlib.sha256(output.encode()).hexdigest()
    assert not any(json.dumps(line)[1:-1] in log for line in lines)  # no output text at all
    assert len(json.loads(sources_json)) > 10
    for text in json.loads(sources_json):  # and no source message text, as in every mode
        assert json.dumps(text)[1:-1] not in log
    assert len(generated.sources) == 40  # the sources are there, as timestamps


async def _flushed(redis_url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    await client.set(MARKER, MARKER_TEXT)
    return client
