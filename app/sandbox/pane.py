"""The user's side of the agent pane: open it, look at a channel beside it, type, click a
suggested prompt, rate an answer.

Sources:

- docs.slack.dev/ai/migrating-to-agent-messaging — an ``agent_view`` app is told a user opened
  its DM by ``app_home_opened`` with ``tab: "messages"`` (this replaces
  ``assistant_thread_started``); the user's messages arrive as ``message.im``, each one a root in
  the DM's timeline (no ``assistant_app_thread`` root message), and the app answers in its thread.
- docs.slack.dev/reference/events/app_context_changed — ``{"type": "app_context_changed",
  "context": {"entities": [{"type": "slack#/types/channel_id", "value": "C…", "team_id":
  "T…"}]}}``, entities "ordered by relevance", ``"context": {}`` when there are none; only for
  apps with ``agent_view``. The reference example shows no ``user``; the user it concerns is the
  one the pane is open for, which the sandbox sends as ``user`` (as fixtures of agent apps do,
  e.g. pejmanjohn/chickpea fixtures/slack/app-context-changed.json) and the app must not need it
  anywhere else.
- docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts — a clicked prompt
  sends its ``message`` as the user's message.
- docs.slack.dev/reference/block-kit/block-elements/feedback-buttons-element — a click on one of
  the two buttons is a ``block_actions`` whose action has ``type: "feedback_buttons"`` and the
  clicked button's ``value`` (slack-samples/bolt-python-assistant-template reads
  ``body["actions"][0]["value"]``).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from . import payloads
from .delivery import Deliverer, Transport
from .interactions import Interactions
from .records import Channel, Message
from .transport import Delivery
from .workspace import Workspace

JsonDict = dict[str, Any]
CHANNEL_ENTITY = "slack#/types/channel_id"


class _User(Protocol):
    """What the pane needs of ``user.SandboxUser`` (which builds a PaneSide, hence no import)."""

    id: str
    workspace: Workspace
    interactions: Interactions
    deliverer: Deliverer
    transport: Transport | None

    async def event(self, event: JsonDict, event_id: str | None = None) -> Delivery: ...
    async def dm(self, text: str, thread_ts: str | None = None) -> Any: ...
    def new_response_url(self, channel: Channel | None, **source: Any) -> str: ...


class PaneSide:
    """One person using the app's agent pane."""

    def __init__(self, user: _User) -> None:
        self.user = user
        self.workspace = user.workspace

    @property
    def dm(self) -> str:
        return self.workspace.open_im(self.user.id).id

    def _require_agent_view(self) -> None:
        if not self.workspace.pane.agent_view:
            raise AssertionError("the app's manifest has no features.agent_view: no agent pane")

    async def open(self, viewing: str | None = None) -> Delivery:
        """Open the pane (``app_home_opened``, tab messages), then say what is in view."""
        self._require_agent_view()
        channel = self.workspace.open_im(self.user.id)
        event = payloads.app_home_opened(self.workspace, self.user.id, channel, None)
        event["tab"] = "messages"
        opened = await self.user.event(event)
        if viewing is not None:
            await self.view(viewing)
        return opened

    async def view(self, channel: str | None) -> Delivery:
        """Look at ``channel`` (or nothing) beside the pane: ``app_context_changed``."""
        self._require_agent_view()
        context: JsonDict = {}
        if channel is not None:
            found = self.workspace.resolve_channel(channel)
            if found is None:
                raise KeyError(f"no channel {channel!r}")
            entity = {"type": CHANNEL_ENTITY, "value": found.id, "team_id": self.workspace.team_id}
            context = {"entities": [entity]}
        self.workspace.pane.viewing[self.user.id] = channel
        event = {
            "type": "app_context_changed",
            "user": self.user.id,
            "context": context,
            "event_ts": f"{time.time():.6f}",
        }
        return await self.user.event(event)

    async def type(self, text: str) -> Any:
        """Send a message in the pane: a new root in the DM (``message.im``)."""
        return await self.user.dm(text)

    async def reply(self, thread_ts: str, text: str) -> Any:
        """Reply inside a pane thread (``message.im`` with ``thread_ts``): a follow-up."""
        return await self.user.dm(text, thread_ts=thread_ts)

    def prompts(self) -> list[str]:
        """The titles of the suggested prompts the app set for this person's pane."""
        _, prompts = self.workspace.pane.prompts.get(self.dm, (None, []))
        return [p.title for p in prompts]

    async def click_prompt(self, title: str) -> Any:
        _, prompts = self.workspace.pane.prompts.get(self.dm, (None, []))
        for prompt in prompts:
            if prompt.title == title:
                return await self.user.dm(prompt.message)
        raise AssertionError(f"no suggested prompt {title!r}; prompts are {self.prompts()}")

    def status(self, thread_ts: str) -> str | None:
        """The loading status showing in a thread now: the last one set, unless the app has
        replied since (a reply clears it) or set it to empty."""
        statuses = [
            s
            for s in self.workspace.pane.statuses
            if (s.channel, s.thread_ts) == (self.dm, thread_ts)
        ]
        if not statuses or not statuses[-1].status:
            return None
        last = statuses[-1]
        replied = any(
            m.bot_id and m.ts > last.after_ts for m in self._thread(thread_ts) if m.ts != thread_ts
        )
        return None if replied else last.status

    def _thread(self, thread_ts: str) -> list[Message]:
        channel = self.workspace.channels[self.dm]
        replies = channel.threads.get(thread_ts)
        return [channel.by_ts[thread_ts], *(replies.replies if replies else [])]

    def replies(self, thread_ts: str) -> list[Message]:
        """The app's messages in the thread of one of this person's pane messages."""
        return [m for m in self._thread(thread_ts) if m.bot_id and m.ts != thread_ts]

    async def feedback(self, message: Message, positive: bool = True) -> Delivery:
        """Click 👍 (``positive``) or 👎 in a message's ``feedback_buttons``."""
        for block in message.blocks:
            if block.get("type") != "context_actions":
                continue
            for element in block.get("elements", []):
                if element.get("type") == "feedback_buttons":
                    return await self._click_feedback(message, block, element, positive)
        raise AssertionError("no feedback_buttons in a context_actions block of that message")

    async def _click_feedback(
        self, message: Message, block: JsonDict, element: JsonDict, positive: bool
    ) -> Delivery:
        button = element["positive_button" if positive else "negative_button"]
        channel = self.workspace.channels[message.channel]
        payload = payloads.block_actions_on_message(
            self.workspace,
            self.user.id,
            channel,
            message,
            {"action_id": element.get("action_id", "")},
            str(block.get("block_id", "")),
            trigger_id=self.user.interactions.issue_trigger(self.user.id),
            response_url=self.user.new_response_url(
                channel, message_ts=message.ts, thread_ts=message.thread_ts
            ),
        )
        payload["actions"] = [
            {
                "type": "feedback_buttons",
                "action_id": element.get("action_id", ""),
                "block_id": str(block.get("block_id", "")),
                "value": button.get("value"),
                "action_ts": f"{time.time():.6f}",
            }
        ]
        return await self.user.deliverer.interactive(payload, self.user.transport)
