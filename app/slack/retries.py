"""Which Web API calls are retried, and how: the retry handlers every Slack client carries.

slack_sdk's handlers retry a 429 after its Retry-After for every method: a 429 means Slack did
nothing (docs.slack.dev/apis/web-api/rate-limits). A 5xx or a dropped connection is retried only
for calls that are safe to repeat; a method that creates something (`NOT_REPEATABLE`) is sent
once, and the caller decides (app/slack/port.py's docstring has the sources).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

HTTP_TIMEOUT_S = 15


# Methods that add something each time they run: never re-sent after a 5xx or a lost answer,
# since the first call may have landed. (chat.update, views.*, conversations.* and every read are
# safe to repeat; a views.open trigger_id is single-use, so a repeat cannot open a second modal.)
NOT_REPEATABLE = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal"}
)


def method_of(request: HttpRequest) -> str:
    """`chat.postMessage` for `https://slack.com/api/chat.postMessage`."""
    return urlparse(request.url).path.rstrip("/").rsplit("/", 1)[-1]


class _RepeatableOnly(AsyncRetryHandler):
    """A retry handler that never re-sends a `NOT_REPEATABLE` method (mixed in first)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if method_of(request) in NOT_REPEATABLE:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class ServerErrorRetryHandler(_RepeatableOnly, AsyncServerErrorRetryHandler):
    """500 / 503 retried, except for calls that may have landed anyway."""


class ConnectionErrorRetryHandler(_RepeatableOnly, AsyncConnectionErrorRetryHandler):
    """A dropped connection retried, except for calls that may have landed anyway."""


def retry_handlers() -> list[Any]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]


def webhook_retry_handlers() -> list[Any]:
    """A response_url post shows a message each time it lands: only a 429 (nothing happened)
    is retried."""
    return [AsyncRateLimitErrorRetryHandler(max_retry_count=5)]


def web_client(token: str, api_url: str) -> AsyncWebClient:
    """A Web API client that honours SLACK_API_URL and retries what Slack asks us to retry."""
    client = AsyncWebClient(token=token, base_url=api_url, timeout=HTTP_TIMEOUT_S)
    client.retry_handlers.extend(retry_handlers())
    return client
