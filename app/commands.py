"""`/steward <subcommand>`: one job kind, dispatched here to the module that owns each one.

The handler only checks that the subcommand exists (so a typo gets an instant answer); all
work, including every permission check, happens in the job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from app import help as help_
from app.audit import admin
from app.governance import commands as governance_commands
from app.governance import requests
from app.runtime.services import Services
from app.slack.reply import ReplyTo


class StewardCommand(BaseModel):
    team_id: str
    user_id: str
    sub: str
    args: list[str] = []
    text: str = ""  # everything after the subcommand, as typed
    channel_id: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None


Subcommand = Callable[[Services, StewardCommand], Awaitable[None]]


async def run_help(services: Services, cmd: StewardCommand) -> None:
    msg = help_.help_message(services.engine)
    await services.slack.tell(ReplyTo.of(cmd), msg.text, msg.blocks)


async def not_yet(services: Services, cmd: StewardCommand) -> None:
    msg = help_.help_message(services.engine, f"`/steward {cmd.sub}` is not available yet.")
    await services.slack.tell(ReplyTo.of(cmd), msg.text, msg.blocks)


# Each feature module adds its subcommands here.
SUBCOMMANDS: dict[str, Subcommand] = {
    "help": run_help,
    "audit": admin.run_audit,
    "usage": admin.run_usage,
    "policy": governance_commands.run_policy,
    "pause": governance_commands.run_pause,
    "resume": governance_commands.run_resume,
    "request": requests.run_request,
}


async def run_steward(services: Services, cmd: StewardCommand) -> None:
    await SUBCOMMANDS[cmd.sub](services, cmd)
