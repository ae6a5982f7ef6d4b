"""Archiving: move the oldest events to a JSONL file, then trim them and their index entries.

Runs at most once at a time across processes (a lock in Redis). The file is fsynced and the
anchor stored before anything leaves Redis, so verification can start after the anchor and an
archived file can be verified on its own. `app.audit.retention` decides when this runs.

Archiving and trimming are two steps. A run writes what is old enough to a file and records
how far the files go (`{p}:audit:archived`); it then trims only up to `trim_through`, the size
of the newest published checkpoint (`app.audit.coverage`), so an event leaves Redis only once
it is both in a file and vouched for by a signature kept outside Redis. What was archived but
not yet covered stays in Redis, and a later run trims it without writing it again.

Legal holds (`app.audit.hold`): the stream can only be trimmed as a prefix, so a held event is
archived like any other (the chain and the archive files stay whole) and also kept, before the
trim, as a copy under `{p}:audit:held:{iid}` that `AuditLog.events_for` still returns. Copies no
hold covers any more (released) go at the next run. So a hold never stops retention for anyone
else, and never lets a held event leave Redis.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from app.audit.event import approvers_named, format_at
from app.audit.hold import Hold, active_holds, covered
from app.audit.scripts import PRUNE_LUA, RELEASE_LUA, TRIM_LUA
from app.audit.stream import PAGE, AuditError, AuditStream

LOCK_MS = 15 * 60 * 1000  # an archive run holds the lock at most this long

Upload = Callable[[Path], Awaitable[str]]  # an archive file to object storage; its address


@dataclass(frozen=True)
class ArchiveResult:
    archived: int
    path: Path | None = None
    anchor_id: int | None = None
    skipped: bool = False  # another process holds the archive lock
    held: int = 0  # trimmed events kept in Redis too, because a legal hold covers them
    trimmed: int = 0  # events that left Redis in this run (archived in this run or before)
    uncovered: int = 0  # archived events kept in Redis: no published checkpoint covers them yet
    location: str | None = None  # the file's name, or its s3:// address when uploaded


def _next_stream_id(stream_id: str) -> str:
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class Archiver:
    """The archive side of one `AuditStream`."""

    def __init__(self, stream: AuditStream, clock: Callable[[], datetime]) -> None:
        self._stream = stream
        self._r = stream.redis
        self.keys = stream.keys
        self._clock = clock
        self._trim = self._r.register_script(TRIM_LUA)
        self._release = self._r.register_script(RELEASE_LUA)
        self._prune = self._r.register_script(PRUNE_LUA)

    async def archive_older_than(
        self,
        days: int,
        archive_dir: Path,
        *,
        now: datetime | None = None,
        keep_after: int | None = None,
        trim_through: int | None = None,
        upload: Upload | None = None,
    ) -> ArchiveResult:
        """Move events older than `days` to a JSONL file under `archive_dir`, then trim them.

        Runs at most once at a time across processes (others return `skipped=True`). The file
        is fsynced and the anchor stored before anything leaves Redis. Events after id
        `keep_after` (what a sink has yet to take) stay, however old, and are not archived;
        events after id `trim_through` (no published checkpoint covers them) are archived but
        stay in Redis. None: no such bound. `upload` (S3, `app.audit.s3`) takes the file, and
        returns once the store confirms it; the local file is then only staging and removed.
        """
        cutoff = format_at((now or self._clock()) - timedelta(days=days))
        token = secrets.token_hex(16)
        if not await self._r.set(self.keys.lock, token, nx=True, px=LOCK_MS):
            return ArchiveResult(archived=0, skipped=True)
        try:
            await self._prune_pending()  # finish a run that died after its trim
            holds = await active_holds(self._r, self.keys)
            await self._drop_released(holds)
            written = await self._archive(cutoff, Path(archive_dir), keep_after, upload)
            result = await self._trim_archived(written, token, holds, trim_through)
            await self._prune_pending()
            return result
        finally:
            await self._release(keys=[self.keys.lock], args=[token])

    async def _archive(
        self, cutoff: str, archive_dir: Path, keep_after: int | None, upload: Upload | None
    ) -> ArchiveResult:
        """Write the old events after the last archived one to a new file; record how far the
        files go. Nothing leaves Redis here."""
        anchor = await self._stream.hash(self.keys.anchor)
        marker = await self._stream.hash(self.keys.archived)
        after = marker if int(marker.get("seq", 0)) > int(anchor.get("seq", 0)) else anchor
        start = "(" + after["stream_id"] if after.get("stream_id") else "-"
        archive_dir.mkdir(parents=True, exist_ok=True)
        path = _archive_path(archive_dir, self._clock())
        partial = path.with_name(path.name + ".partial")
        count, last = await self._write_archive(partial, start, cutoff, keep_after)
        if last is None:
            partial.unlink(missing_ok=True)
            return ArchiveResult(archived=0)
        os.replace(partial, path)
        _fsync_dir(archive_dir)
        location = path.name
        if upload is not None:
            try:
                location = await upload(path)
            finally:  # uploaded: S3 holds it; not: the next run writes these events again
                path.unlink(missing_ok=True)
        sid, data = last
        files = [*_files(marker), [int(data["id"]), location]]
        await self._r.hset(
            self.keys.archived,
            mapping={"seq": str(data["id"]), "stream_id": sid, "files": json.dumps(files)},
        )
        return ArchiveResult(archived=count, path=path, location=location)

    async def _trim_archived(
        self, written: ArchiveResult, token: str, holds: list[Hold], trim_through: int | None
    ) -> ArchiveResult:
        """Trim what is archived, up to `trim_through`: held events are copied first, index
        entries marked for pruning, and the anchor moved in the same script as the trim."""
        anchor = await self._stream.hash(self.keys.anchor)
        marker = await self._stream.hash(self.keys.archived)
        done = int(anchor.get("seq", 0))
        archived = max(done, int(marker.get("seq", 0)))
        through = archived if trim_through is None else min(archived, trim_through)
        result = replace(written, uncovered=archived - max(done, through))
        if through <= done:
            return result
        start = "(" + anchor["stream_id"] if anchor.get("stream_id") else "-"
        count, last, held = await self._collect(start, through, holds)
        if last is None:
            return result
        await self._keep(held)  # before the trim: a held event is never out of Redis
        sid, data = last
        files = _files(marker)
        anchor_fields = ["hash", data["hash"], "seq", str(data["id"]), "stream_id", sid]
        anchor_fields += ["at", data["at"], "file", _file_of(files, int(data["id"]))]
        trimmed = await self._trim(
            keys=[self.keys.lock, self.keys.anchor, self.keys.stream],
            args=[token, _next_stream_id(sid), *anchor_fields],
        )
        if int(trimmed) < 0:
            raise AuditError(
                "archive lock expired before the trim; archive file kept, nothing trimmed"
            )
        kept = [entry for entry in files if entry[0] > int(data["id"])]
        await self._r.hset(self.keys.archived, "files", json.dumps(kept))
        return replace(result, anchor_id=int(data["id"]), held=len(held), trimmed=count)

    async def _write_archive(
        self, partial: Path, start: str, cutoff: str, keep_after: int | None
    ) -> tuple[int, tuple[str, dict[str, Any]] | None]:
        """Write the old prefix of the stream after `start`; returns (count, last (stream id,
        event))."""
        count, last = 0, None
        with partial.open("w", encoding="utf-8") as fh:
            async for sid, fields in self._stream.iter_stored(start):
                data = json.loads(fields["json"])
                # Only a prefix can be trimmed, so stop at the first event inside the window.
                if data.get("at", "") >= cutoff:
                    break
                if keep_after is not None and int(data["id"]) > keep_after:
                    break  # a sink has yet to take it
                fh.write(fields["json"] + "\n")
                count, last = count + 1, (sid, data)
            fh.flush()
            os.fsync(fh.fileno())
        return count, last

    async def _collect(
        self, start: str, through: int, holds: list[Hold]
    ) -> tuple[int, tuple[str, dict[str, Any]] | None, list[tuple[dict[str, Any], str]]]:
        """The archived events after `start` up to id `through`, about to be trimmed: (count,
        the last one, the held ones as (event, stored JSON)); their index entries go to the
        pending set, so a run that dies after the trim is finished by the next."""
        count, last = 0, None
        held: list[tuple[dict[str, Any], str]] = []
        pending: set[str] = set()
        async for sid, fields in self._stream.iter_stored(start):
            data = json.loads(fields["json"])
            if int(data["id"]) > through:
                break
            count, last = count + 1, (sid, data)
            if holds and covered(holds, data):
                held.append((data, fields["json"]))
            pending |= _index_members(data)
            if len(pending) >= PAGE:
                await self._r.sadd(self.keys.pending, *pending)
                pending.clear()
        if pending:
            await self._r.sadd(self.keys.pending, *pending)
        return count, last, held

    async def _keep(self, held: list[tuple[dict[str, Any], str]]) -> None:
        for start in range(0, len(held), PAGE):
            pipe = self._r.pipeline(transaction=False)
            for data, text in held[start : start + PAGE]:
                iid = str(data["interaction_id"])
                pipe.hset(self.keys.held(iid), str(data["id"]), text)
                pipe.sadd(self.keys.held_index, iid)
            await pipe.execute()

    async def _drop_released(self, holds: list[Hold]) -> None:
        """Let retention have the kept copies that no hold in force covers any more."""
        for iid in cast(list[str], await self._r.smembers(self.keys.held_index)):
            copies = cast(dict[str, str], await self._r.hgetall(self.keys.held(iid)))
            gone = [seq for seq, text in copies.items() if not covered(holds, json.loads(text))]
            if gone:
                await self._r.hdel(self.keys.held(iid), *gone)
            if len(gone) == len(copies):
                await self._r.srem(self.keys.held_index, iid)

    async def _prune_pending(self) -> None:
        """Drop index entries (and finished interactions' state) for trimmed events."""
        anchor = await self._stream.hash(self.keys.anchor)
        if not anchor:
            return
        ms, _, part = anchor["stream_id"].partition("-")
        while members := cast(list[str], await self._r.spop(self.keys.pending, PAGE)):
            pipe = self._r.pipeline(transaction=False)
            for member in members:
                kind, _, name = member.partition(":")
                if kind == "a":
                    # Members are interaction ids, so drop by time up to the anchor's ms: an
                    # approval asked ≥ retention_days ago is long settled or expired.
                    pipe.zremrangebyscore(self.keys.awaiting(name), "-inf", ms)
                    continue
                keys = self._prune_keys(kind, name)
                await self._prune(keys=keys, args=[kind, anchor["seq"], ms, part], client=pipe)
            await pipe.execute()

    def _prune_keys(self, kind: str, name: str) -> list[str]:
        if kind == "i":
            return [self.keys.by_interaction(name), self.keys.state(name)]
        index = self.keys.by_user(name) if kind == "u" else self.keys.by_channel(name)
        return [index, index]


def _index_members(data: Mapping[str, Any]) -> set[str]:
    """The pending-set members naming the indexes an archived event was in (`kind:name`)."""
    keys = {"i:" + str(data["interaction_id"])}
    if data.get("actor_id"):
        keys.add("u:" + str(data["actor_id"]))
    if data.get("channel_id"):
        keys.add("c:" + str(data["channel_id"]))
    keys |= {"a:" + user for user in approvers_named(data)}
    return keys


def _files(marker: Mapping[str, str]) -> list[list[Any]]:
    """The archive files holding events not yet trimmed, as [last event id, file name]."""
    return cast(list[list[Any]], json.loads(marker.get("files") or "[]"))


def _file_of(files: list[list[Any]], seq: int) -> str:
    """The name of the archive file that holds event `seq` (the first to end at or after it)."""
    return next((str(name) for last, name in files if int(last) >= seq), "")


def _archive_path(archive_dir: Path, moment: datetime) -> Path:
    stamp = moment.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    path = archive_dir / f"audit-{stamp}.jsonl"
    n = 1
    while path.exists():  # two runs within a second: never overwrite an archive
        path = archive_dir / f"audit-{stamp}-{n}.jsonl"
        n += 1
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable too, before the events leave Redis."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
