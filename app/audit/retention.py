"""Retention: archive audit events older than the policy's `retention_days`, hourly.

Every process with workers runs this loop, but a Redis gate (SET NX with the interval as its
expiry) lets only one of them do a run per interval, and AuditLog.archive_older_than holds its
own lock besides, so an archive is written once across processes. A run with nothing to archive
reads one page of the stream: cheap. The first run happens at start, so a deployment restarted
more often than hourly still archives. Nothing a configured sink has yet to take is archived
(`app.audit.sinks.taken_by_all`): a sink down for longer than the retention window holds
events in Redis rather than lose them. And nothing is trimmed that no published checkpoint
covers (`app.audit.coverage`): such events are archived, and stay in Redis until one does.
With STEWARD_AUDIT_ARCHIVE_S3_BUCKET set, each file goes to that bucket (`app.audit.s3`) and
nothing is trimmed unless the upload was confirmed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from app.audit.archive import ArchiveResult
from app.audit.coverage import covered_size
from app.audit.log import AuditLog
from app.audit.s3 import ArchiveBucket
from app.audit.sinks import configured_names, taken_by_all
from app.runtime.queue import Worker
from app.runtime.services import Services
from app.runtime.settings import Settings

log = logging.getLogger(__name__)

INTERVAL = 3600.0  # seconds between runs, across all processes
TICK = 0.5  # how often the loop checks whether it was told to stop


class RetentionJob:
    def __init__(
        self,
        audit: AuditLog,
        redis: aioredis.Redis,
        retention_days: Callable[[], int],
        archive_dir: Path,
        *,
        stopped: Callable[[], bool] = lambda: False,
        interval: float = INTERVAL,
        sinks: Settings | None = None,
        checkpoints: Settings | None = None,
        archive_to: ArchiveBucket | None = None,
    ) -> None:
        self.audit = audit
        self.redis = redis
        self.retention_days = retention_days  # read per run: the policy may be reloaded
        self.archive_dir = archive_dir
        self.stopped = stopped
        self.interval = interval
        self.gate = audit.keys.retention_gate
        self.sinks = configured_names(sinks) if sinks else []  # their cursors bound the trim
        # Where checkpoints are published and the key that signs them: they bound the trim.
        # None only in tests of other bounds; every process that runs workers passes them.
        self.checkpoints = checkpoints
        self.archive_to = archive_to  # an S3 bucket; None: the files stay in archive_dir

    async def run_once(self) -> ArchiveResult | None:
        """Archive now unless another process did within the interval (then None)."""
        ms = max(1, int(self.interval * 1000))
        if not await self.redis.set(self.gate, "1", nx=True, px=ms):
            return None
        days = self.retention_days()
        floor = await taken_by_all(self.redis, self.audit.keys, self.sinks)
        covered = None
        if self.checkpoints is not None:
            covered = await covered_size(self.redis, self.audit.keys, self.checkpoints)
        result = await self.audit.archive_older_than(
            days,
            self.archive_dir,
            keep_after=floor,
            trim_through=covered,
            upload=self.archive_to.upload if self.archive_to else None,
        )
        log.info(
            "audit retention run",
            extra={
                "retention_days": days,
                "archived": result.archived,
                "anchor_id": result.anchor_id,
                "archive_file": result.location,
                "skipped": result.skipped,
                "held": result.held,
                "sinks_taken": floor,
                "trimmed": result.trimmed,
                "checkpoint_covers": covered,
                "uncovered": result.uncovered,
            },
        )
        return result

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self.stopped():
            if loop.time() >= due:
                due = loop.time() + self.interval
                try:
                    await self.run_once()
                except Exception:  # Redis down, disk full: say so, try again next interval
                    log.exception("audit retention run failed")
            await asyncio.sleep(TICK)


def start_retention(
    services: Services,
    spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None],
    workers: Sequence[Worker],
) -> RetentionJob:
    """Run the retention loop beside `workers`; it stops once they have all been told to stop."""
    settings = services.settings
    bucket = ArchiveBucket(settings) if settings.steward_audit_archive_s3_bucket else None
    job = RetentionJob(
        services.audit,
        services.redis,
        lambda: services.policy.defaults.retention_days,
        services.settings.steward_data_dir / "archive",
        stopped=lambda: not workers or all(w._stop.is_set() for w in workers),
        sinks=services.settings,
        checkpoints=services.settings,
        archive_to=bucket,
    )
    spawn(job.run)
    return job
