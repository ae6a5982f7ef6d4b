"""The audit trail: hash chain, tamper detection, concurrency, state, export and retention."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import itertools
import json
import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.chain import (
    GENESIS_HASH,
    body_json,
    canonical_json,
    compute_hash,
    hash_matches,
    stored_json,
)
from app.audit.event import AuditEvent
from app.audit.export import CSV_COLUMNS, cli_export, cli_verify, write_csv, write_jsonl
from app.audit.log import AuditLog
from app.audit.query import AuditFilters
from app.audit.stream import PAGE

STREAM = "steward:audit"
Entries = list[tuple[str, dict[str, str]]]


class Clock:
    """A clock the test moves by hand, so "old" events need no waiting."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)  # strictly increasing, like real time
        return self.now


async def seed(log: AuditLog, n: int, **fields: Any) -> list[AuditEvent]:
    return [
        await log.record(
            interaction_id=f"i{k}", event="generated", actor_id="U1", channel_id="C1", **fields
        )
        for k in range(1, n + 1)
    ]


async def rewrite(r: aioredis.Redis, change: Callable[[Entries], Entries]) -> None:
    """Streams cannot be edited in place: rebuild one with the same ids and changed entries."""
    entries: Entries = await r.xrange(STREAM)
    await r.delete(STREAM)
    for sid, fields in change(entries):
        await r.xadd(STREAM, fields, id=sid)  # type: ignore[arg-type]


def edit_event(entries: Entries, index: int, rehash: bool = False, **changes: Any) -> Entries:
    sid, fields = entries[index]
    data = json.loads(fields["json"]) | changes
    if rehash:
        data["hash"] = compute_hash(data)
    entries[index] = (sid, {**fields, "json": stored_json(data)})
    return entries


# ---- the chain ------------------------------------------------------------------------------


async def test_events_link_into_a_chain_that_verifies(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    events = await seed(log, 4)
    assert [e.id for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    stored = [json.loads(f["json"]) for _, f in await r.xrange(STREAM)]
    assert stored == [e.model_dump(mode="json") for e in events]
    result = await log.verify()
    assert (result.ok, result.checked, result.first_bad) == (True, 4, None)


def test_hash_links_prev_hash_id_and_the_sha256_of_the_sorted_compact_utf8_body() -> None:
    data = {"b": 1, "a": "é ü", "hash": "ignored", "id": 3, "prev_hash": "p"}
    assert body_json(data) == '{"a":"é ü","b":1}'.encode()
    body = hashlib.sha256(body_json(data)).digest()
    assert compute_hash(data) == hashlib.sha256(b"p:3:" + body).hexdigest()
    # A log written before the two-step format still verifies: its events hashed it all at once.
    assert canonical_json(data) == '{"a":"é ü","b":1,"id":3,"prev_hash":"p"}'.encode()
    legacy = data | {"hash": hashlib.sha256(canonical_json(data)).hexdigest()}
    assert hash_matches(legacy) and not hash_matches(legacy | {"b": 2})
    assert hash_matches(data | {"hash": compute_hash(data)})


@settings(max_examples=60, deadline=None)
@given(
    output=st.text(),
    confidence=st.floats(min_value=0, max_value=1),
    sources=st.lists(st.text(max_size=20), max_size=4),
    extra=st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3),
)
def test_hash_survives_a_json_round_trip(
    output: str, confidence: float, sources: list[str], extra: dict[str, Any]
) -> None:
    event = AuditEvent(
        id=7,
        at="2024-05-01T00:00:00.000000Z",
        interaction_id="i",
        event="generated",
        output=output,
        confidence=confidence,
        sources=sources,
        extra=extra,
    )
    sealed = event.model_copy(update={"hash": compute_hash(event.model_dump(mode="json"))})
    reloaded = json.loads(sealed.to_json())
    assert compute_hash(reloaded) == reloaded["hash"] == sealed.hash


async def test_a_bad_field_is_refused_before_anything_is_written(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    with pytest.raises(pydantic.ValidationError):
        await log.record(interaction_id="i1", event="teleported")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        await log.record(interaction_id="i1", event="generated", confidence=1.5)
    assert await r.exists(STREAM) == 0


async def test_lone_surrogates_in_text_are_stored_not_fatal(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    event = await log.record(interaction_id="i1", event="generated", output="bad \ud800 text")
    assert event.output is not None and "\ud800" not in event.output
    assert (await log.verify()).ok


# ---- tampering ------------------------------------------------------------------------------


async def test_an_edited_field_names_that_event(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await seed(log, 5)
    await rewrite(r, lambda entries: edit_event(entries, 2, actor_id="U_SOMEONE_ELSE"))
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "3", "edited")
    assert result.checked == 2
    assert result.problem is not None and result.problem.startswith("edited")


async def test_an_edit_with_a_recomputed_hash_is_still_caught(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await seed(log, 5)
    await rewrite(r, lambda entries: edit_event(entries, 2, rehash=True, output="forged"))
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "3", "edited")


async def test_a_removed_event_is_named(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await seed(log, 5)
    sid = (await r.xrange(STREAM))[2][0]
    await r.xdel(STREAM, sid)
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "3", "removed")
    assert result.problem is not None and "event 4" in result.problem


async def test_removing_the_newest_event_is_caught_too(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await seed(log, 5)
    sid = (await r.xrange(STREAM))[-1][0]
    await r.xdel(STREAM, sid)
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "5", "removed")


async def test_two_swapped_events_are_reordered(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await seed(log, 5)

    def swap(entries: Entries) -> Entries:
        (sid1, f1), (sid2, f2) = entries[1], entries[2]
        entries[1], entries[2] = (sid1, f2), (sid2, f1)
        return entries

    await rewrite(r, swap)
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "3", "reordered")
    assert result.checked == 1


async def test_an_entry_that_is_not_json_is_an_edit(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await seed(log, 3)

    def garble(entries: Entries) -> Entries:
        sid, fields = entries[1]
        entries[1] = (sid, {**fields, "json": "{not json"})
        return entries

    await rewrite(r, garble)
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "2", "edited")


# ---- concurrency ----------------------------------------------------------------------------


def append_from_processes(redis_url: str, writers: int, each: int) -> list[int | None]:
    """`writers` processes appending `each` events at once; their exit codes."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, no inherited event loop
    procs = [
        ctx.Process(target=_append_from_process, args=(redis_url, w, each)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    return [p.exitcode for p in procs]


def _append_from_process(redis_url: str, worker: int, n: int) -> None:
    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        log = AuditLog(client)
        for k in range(n):
            await log.record(interaction_id=f"w{worker}-{k}", event="requested", actor_id="U1")
        await client.aclose()

    asyncio.run(run())


def test_four_processes_appending_keep_one_valid_chain(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    assert append_from_processes(redis_url, writers=4, each=200) == [0, 0, 0, 0]

    async def check() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        result = await AuditLog(client).verify()
        await client.aclose()
        assert (result.ok, result.checked) == (True, 800)

    asyncio.run(check())
    ids = [int(fields["id"]) for _, fields in redis_sync.xrange(STREAM)]  # type: ignore[union-attr]
    assert ids == list(range(1, 801))  # no gap, no duplicate
    assert cli_verify(redis_url) == 0  # what `steward audit verify` runs


async def test_two_logs_in_one_loop_interleave_safely(r: aioredis.Redis, redis_url: str) -> None:
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    a, b = AuditLog(r), AuditLog(other)  # two clients appending at once, one chain
    await asyncio.gather(
        *(
            log.record(interaction_id=f"i{k}", event="requested")
            for k in range(40)
            for log in (a, b)
        )
    )
    await other.aclose()
    result = await a.verify()
    assert (result.ok, result.checked) == (True, 80)


async def test_a_writer_whose_clock_lags_still_appends_in_order(
    r: aioredis.Redis, redis_url: str
) -> None:
    ahead = AuditLog(r, clock=Clock(datetime(2024, 6, 1, tzinfo=UTC)))
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    behind = AuditLog(other, clock=Clock(datetime(2024, 5, 1, tzinfo=UTC)))
    await ahead.record(interaction_id="i1", event="requested")
    late = await behind.record(interaction_id="i1", event="generated")
    await other.aclose()
    assert late.id == 2 and late.at.startswith("2024-05-01")
    sids = [sid for sid, _ in await r.xrange(STREAM)]
    assert sids[0].split("-")[0] == sids[1].split("-")[0]  # the id never goes backwards
    assert (await ahead.verify()).ok


# ---- state and lookups ----------------------------------------------------------------------


async def test_state_follows_the_latest_event(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    assert await log.state("d1") is None
    common = {"interaction_id": "d1", "use_case": "draft", "channel_id": "C1", "team_id": "T1"}
    await log.record(event="requested", actor_id="U1", approval_status="pending", **common)
    await log.record(event="generated", actor_id="U1", output="Hi all", confidence=0.8, **common)
    await log.record(
        event="approved", actor_id="U9", approver_id="U9", approval_status="approved", **common
    )
    state = await log.state("d1")
    assert state is not None
    assert (state.approval_status, state.event, state.last_event_id) == ("approved", "approved", 3)
    assert (state.output, state.confidence, state.approver_id) == ("Hi all", 0.8, "U9")
    assert state.actor_id == "U1"  # the requester, not the approver
    assert state.created_at < state.updated_at
    events = await log.events_for("d1")
    assert [e.event for e in events] == ["requested", "generated", "approved"]
    assert await log.events_for("nobody") == []


async def test_recent_is_newest_first_and_filtered(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    for k in range(6):
        await log.record(
            interaction_id=f"i{k}",
            event="generated",
            actor_id="U1" if k % 2 else "U2",
            channel_id="C1",
            approval_status="pending" if k < 3 else "approved",
        )
    newest = await log.recent(3)
    assert [e.interaction_id for e in newest] == ["i5", "i4", "i3"]
    mine = await log.recent(10, AuditFilters(user="U1"))
    assert [e.interaction_id for e in mine] == ["i5", "i3", "i1"]
    pending_u2 = await log.recent(10, AuditFilters(user="U2", status="pending"))
    assert [e.interaction_id for e in pending_u2] == ["i2", "i0"]
    in_c1 = await log.recent(2, AuditFilters(channel="C1"))
    assert [e.interaction_id for e in in_c1] == ["i5", "i4"]


# ---- export ---------------------------------------------------------------------------------


async def test_reads_page_through_a_log_longer_than_one_page(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    n = PAGE * 2 + 1  # pages end exactly on a boundary once, then one event spills over
    for k in range(n):
        await log.record(interaction_id=f"i{k}", event="requested", actor_id="U1")
    ids = [e.id async for e in log.export()]
    assert ids == list(range(1, n + 1))
    assert (await log.verify()).checked == n
    assert [e.id for e in await log.recent(3)] == [n, n - 1, n - 2]
    assert [e.id for e in await log.recent(2, AuditFilters(user="U1"))] == [n, n - 1]


async def _varied_log(r: aioredis.Redis) -> tuple[AuditLog, list[AuditEvent]]:
    clock = Clock(datetime(2024, 5, 1, 9, 0, tzinfo=UTC))
    log = AuditLog(r, clock=clock)
    events = []
    for day in range(4):
        clock.now = datetime(2024, 5, 1 + day, 9, 0, tzinfo=UTC)
        events.append(
            await log.record(
                interaction_id=f"i{day}",
                event="generated",
                actor_id=f"U{day % 2}",
                channel_id="C1",
                use_case="summarize" if day < 2 else "draft",
                approval_status="not_required",
                sources=["1714550000.000100", "1714550001.000200"],
                redactions={"email": day},
                output=f'summary, with "quotes" and a newline\nday {day}',
                extra={"cost_usd": 0.01},
            )
        )
    return log, events


async def test_jsonl_export_round_trips_with_filters(r: aioredis.Redis) -> None:
    log, events = await _varied_log(r)
    out = io.StringIO()
    filters = AuditFilters.build(since="2024-05-02", until="2024-05-03", user="U1")
    assert await write_jsonl(log, out, filters) == 1
    (line,) = out.getvalue().splitlines()
    data = json.loads(line)
    assert compute_hash(data) == data["hash"]  # the export itself can be checked
    assert AuditEvent.model_validate(data) == events[1]

    out = io.StringIO()
    assert await write_jsonl(log, out, AuditFilters.build(use_case="draft")) == 2
    lines = out.getvalue().splitlines()
    assert [AuditEvent.model_validate_json(x) for x in lines] == events[2:]
    assert [e async for e in log.export(AuditFilters.build(until="2024-05-01"))] == events[:1]


async def test_csv_export_has_stable_columns_and_json_cells(r: aioredis.Redis) -> None:
    log, events = await _varied_log(r)
    out = io.StringIO()
    assert await write_csv(log, out, AuditFilters.build(since="2024-05-03T00:00:00Z")) == 2
    out.seek(0)
    reader = csv.DictReader(out)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    rows = list(reader)
    assert [row["id"] for row in rows] == ["3", "4"]
    first = rows[0]
    assert json.loads(first["sources"]) == events[2].sources
    assert json.loads(first["redactions"]) == {"email": 2}
    assert first["output"] == events[2].output
    assert first["approver_id"] == ""  # None is an empty cell
    assert first["hash"] == events[2].hash


def test_cli_verify_and_export(
    redis_url: str, redis_sync: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fill() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        await seed(AuditLog(client), 3)
        await client.aclose()

    asyncio.run(fill())
    assert cli_verify(redis_url) == 0
    assert capsys.readouterr().out.strip() == "audit chain intact: 3 events"

    out = io.StringIO()
    assert cli_export(redis_url, "jsonl", out, since="2000-01-01", progress=True) == 0
    assert len(out.getvalue().splitlines()) == 3
    assert "exported 3 events" in capsys.readouterr().err
    assert cli_export(redis_url, "jsonl", io.StringIO(), since="yesterday-ish") == 2
    assert cli_export(redis_url, "xml", io.StringIO()) == 2

    redis_sync.xdel(STREAM, redis_sync.xrange(STREAM)[0][0])  # type: ignore[index]
    assert cli_verify(redis_url) == 1
    assert capsys.readouterr().out.startswith("audit chain broken at event 1: removed")


# ---- retention ------------------------------------------------------------------------------


async def _aged_log(r: aioredis.Redis) -> tuple[AuditLog, Clock]:
    """5 events 40 days old (interactions old1, old2, mixed) and 3 recent (mixed, new1)."""
    now = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
    clock = Clock(now - timedelta(days=40))
    log = AuditLog(r, clock=clock)
    for iid in ("old1", "old1", "old2", "mixed", "old2"):
        await log.record(interaction_id=iid, event="generated", actor_id="U1", channel_id="C1")
    clock.now = now - timedelta(days=1)
    for iid in ("mixed", "new1", "new1"):
        await log.record(interaction_id=iid, event="generated", actor_id="U1", channel_id="C1")
    clock.now = now
    return log, clock


async def test_retention_archives_then_trims_and_the_chain_still_verifies(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)
    result = await log.archive_older_than(30, tmp_path)
    assert (result.archived, result.anchor_id, result.skipped) == (5, 5, False)
    assert result.path is not None and result.path.parent == tmp_path
    assert result.path.name.startswith("audit-") and result.path.suffix == ".jsonl"
    archived = [json.loads(x) for x in result.path.read_text().splitlines()]
    assert [e["id"] for e in archived] == [1, 2, 3, 4, 5]
    assert list(tmp_path.iterdir()) == [result.path]  # no .partial left behind

    assert await r.xlen(STREAM) == 3
    assert (await r.hgetall("steward:audit:anchor"))["hash"] == archived[-1]["hash"]
    verified = await log.verify()
    assert (verified.ok, verified.checked) == (True, 3)

    # Indexes follow the trim: finished interactions go, a live one keeps its recent events.
    assert await log.state("old1") is None
    assert [e.id for e in await log.events_for("mixed")] == [6]
    assert (await log.state("mixed")) is not None
    assert await r.zcard("steward:audit:user:U1") == 3

    await log.record(interaction_id="new2", event="requested")
    assert (await log.verify()).checked == 4
    again = await log.archive_older_than(30, tmp_path)
    assert (again.archived, again.path) == (0, None)
    assert len(list(tmp_path.iterdir())) == 1


async def test_tampering_after_a_trim_is_still_caught(r: aioredis.Redis, tmp_path: Path) -> None:
    log, _ = await _aged_log(r)
    await log.archive_older_than(30, tmp_path)
    await rewrite(r, lambda entries: edit_event(entries, 0, output="forged"))
    result = await log.verify()
    assert (result.ok, result.first_bad, result.kind) == (False, "6", "edited")


async def test_archive_runs_once_across_concurrent_callers(
    r: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    log, clock = await _aged_log(r)
    other_client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    other = AuditLog(other_client, clock=clock)
    results = await asyncio.gather(
        log.archive_older_than(30, tmp_path), other.archive_older_than(30, tmp_path)
    )
    await other_client.aclose()
    assert sorted(x.archived for x in results) == [0, 5]
    assert len(list(tmp_path.iterdir())) == 1
    assert (await log.verify()).ok


async def test_archive_does_nothing_while_another_process_holds_the_lock(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)
    await r.set("steward:audit:archive:lock", "someone-else", px=60_000)
    result = await log.archive_older_than(30, tmp_path)
    assert (result.archived, result.skipped) == (0, True)
    assert await r.xlen(STREAM) == 8
    assert list(tmp_path.iterdir()) == []
    assert await r.get("steward:audit:archive:lock") == "someone-else"  # not ours to release
