"""Structured JSON logs on stderr: ids, kinds, counts and timings; never message text or secrets.

Every line's `at` is ISO-8601 in UTC with milliseconds (`2024-05-01T12:00:00.123Z`), the same
form as the audit log's, whatever the host's time zone.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter


class UtcJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        UtcJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "at", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party loggers are chatty at INFO and some log request bodies at DEBUG.
    for noisy in ("slack_bolt", "slack_sdk", "uvicorn.access", "httpx", "openai", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
