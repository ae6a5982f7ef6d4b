"""Thin Bolt listeners: a Slack payload in, a typed job out. All listeners are registered here."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from app.runtime.queue import JobQueue
from handlers import actions, admin, commands, drafts, events, governance, pane, shortcuts


def register(app: AsyncApp, queue: JobQueue) -> None:
    commands.register(app, queue)
    shortcuts.register(app, queue)
    actions.register(app, queue)
    pane.register(app, queue)  # before events: the pane's DMs and tab are its own
    events.register(app, queue)
    governance.register(app, queue)
    drafts.register(app, queue)
    admin.register(app, queue)
