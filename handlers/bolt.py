"""The Bolt app: request verification, our listeners, and nothing else."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from app.runtime import Runtime
from handlers import register


def build_bolt(runtime: Runtime, *, socket_mode: bool = False) -> AsyncApp:
    """The Bolt app. Over HTTP every request's signature is verified; Socket Mode needs none
    (the websocket itself is authenticated with the app-level token)."""
    settings = runtime.settings
    secret = "" if socket_mode else settings.secret("SLACK_SIGNING_SECRET")
    app = AsyncApp(
        signing_secret=secret,
        client=runtime.services.slack.client,
        # Listeners only enqueue, so they finish within milliseconds: answering after them lets
        # a listener choose the HTTP answer (e.g. a 500 that makes Slack redeliver an event).
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
    register(app, runtime.queue)
    return app
