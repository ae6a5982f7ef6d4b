"""The Bolt app: request verification, our listeners, and nothing else."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.response import BoltResponse

from app.runtime import metrics
from app.runtime.process import Runtime
from app.runtime.queue import QueueUnavailable
from handlers import register
from handlers.gate import UNREADABLE_TEXT

log = logging.getLogger(__name__)


class _TokenNoticeFilter(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, then
    warns at every start that the token "will be unused". We give it our client on purpose (the
    one Slack port every call goes through), so that notice is noise."""

    NOTICE = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.NOTICE


_BOLT_LOGGER = logging.getLogger("slack_bolt")
_BOLT_LOGGER.addFilter(_TokenNoticeFilter())


def build_bolt(
    runtime: Runtime, *, socket_mode: bool = False, verified_upstream: bool = False
) -> AsyncApp:
    """The Bolt app. Over HTTP every request's signature is verified, by Bolt or, for a request
    queued by the inbox's front door, before it was queued (`verified_upstream`); Socket Mode
    needs none (the websocket itself is authenticated with the app-level token)."""
    settings = runtime.settings
    verify = not (socket_mode or verified_upstream)
    app = AsyncApp(
        signing_secret=settings.secret("SLACK_SIGNING_SECRET") if verify else "",
        request_verification_enabled=verify,
        client=runtime.services.slack.client,
        # Listeners only enqueue, so they finish within milliseconds: answering after them lets
        # a listener choose the HTTP answer (e.g. a 500 that makes Slack redeliver an event).
        process_before_response=True,
        logger=_BOLT_LOGGER,
    )
    register(app, runtime.queue)
    app.error(listener_failed)
    return app


# What a listener raises when a signed payload lacks a field it reads (or holds the wrong type).
PAYLOAD_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)


async def listener_failed(error: Exception, body: dict[str, Any]) -> BoltResponse:
    """A listener raised. A payload it could not read is acknowledged as a no-op (a command
    says so; a click gets a 400, which Slack shows as a warning), counted and logged in one
    line without the body: never a 500, so neither Slack nor a worker tries it again. Anything
    else (Redis refused the job) is a 500: Slack, or the inbox's worker, retries later."""
    if not isinstance(error, PAYLOAD_ERRORS) or isinstance(error, QueueUnavailable):
        log.warning("a listener could not take a request", extra={"error": type(error).__name__})
        return BoltResponse(status=500, body="")
    metrics.REJECTED_REQUESTS.labels(reason="listener").inc()
    log.warning(
        "slack request refused: a listener could not read its payload",
        extra={"reason": "listener", "error": type(error).__name__, "type": _kind(body)},
    )
    if "command" in body:
        return BoltResponse(
            status=200,
            body=json.dumps({"text": UNREADABLE_TEXT}),
            headers={"content-type": "application/json"},
        )
    if body.get("type") == "event_callback":
        return BoltResponse(status=200, body="")
    return BoltResponse(status=400, body="")


def _kind(body: dict[str, Any]) -> str:
    kind = body.get("command") or body.get("type") or ""
    return str(kind)[:40]
