"""The Bolt app: request verification, our listeners, and nothing else."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from app.runtime.process import Runtime
from handlers import register


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
    return app
