"""A loopback Slack for tests and ``steward demo``: Web API, user side, Socket Mode, faults.

May import: nothing of app/ but `model.tokens` (the loopback model counts tokens); it is a
witness of Slack's and OpenAI's published behaviour, never of ours.

Typical use::

    async with Sandbox(signing_secret="s", app_url="http://127.0.0.1:3000/slack/events") as sb:
        seed_demo_workspace(sb.workspace)
        client = AsyncWebClient(base_url=sb.api_url, token=sb.bot_token)
        await sb.user("U0EMP").command("/summarize", channel="C0LAUNCH")
        await sb.wait_for(lambda: sb.ephemerals(user="U0EMP"))
"""

from .faults import Fault, Faults
from .recorder import CallRecord
from .records import Channel, Ephemeral, FileRecord, Message, User, UserGroup, ViewRecord
from .seed import seed_demo_workspace
from .server import Sandbox
from .transport import Delivery
from .user import Posted, SandboxUser
from .workspace import Workspace

__all__ = [
    "CallRecord",
    "Channel",
    "Delivery",
    "Ephemeral",
    "Fault",
    "Faults",
    "FileRecord",
    "Message",
    "Posted",
    "Sandbox",
    "SandboxUser",
    "User",
    "UserGroup",
    "ViewRecord",
    "Workspace",
    "seed_demo_workspace",
]
