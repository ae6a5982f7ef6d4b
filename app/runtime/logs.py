"""Structured JSON logs on stderr: ids, kinds, counts and timings; never message text or secrets."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
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
