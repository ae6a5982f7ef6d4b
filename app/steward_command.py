"""`StewardCommand`: `/steward <subcommand> <args>` as a person typed it, the job the handler
enqueues and every subcommand reads.

A leaf of app/ (it imports nothing of it), so the subcommand modules (governance, audit) and the
registry in app/commands.py can all use it without importing each other.
"""

from __future__ import annotations

from pydantic import BaseModel


class StewardCommand(BaseModel):
    team_id: str
    user_id: str
    sub: str
    args: list[str] = []
    text: str = ""  # everything after the subcommand, as typed
    channel_id: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None

    @property
    def name(self) -> str:
        """How the person wrote the command, e.g. `/steward pause`."""
        return f"/steward {self.sub}"
