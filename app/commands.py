"""`/steward <subcommand>`: one job kind, dispatched here to the module that owns each one.

Only the registry lives here: each subcommand takes `(services, reply_to, cmd)` and imports
nothing of this module (the typed command is app/steward_command.py). The handler only checks
that the subcommand exists (so a typo gets an instant answer); all work, including every
permission check (app/governance/admins.py), happens in the job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app import help as help_
from app.audit import admin
from app.governance import commands as governance_commands
from app.governance import requests
from app.runtime.services import Services
from app.slack.reply import ReplyTo
from app.steward_command import StewardCommand

Subcommand = Callable[[Services, ReplyTo, StewardCommand], Awaitable[None]]


async def run_help(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    msg = help_.help_message(services.engine)
    await services.slack.tell(reply_to, msg.text, msg.blocks)


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
    await SUBCOMMANDS[cmd.sub](services, ReplyTo.of(cmd), cmd)
