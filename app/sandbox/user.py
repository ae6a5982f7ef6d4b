"""The user side: a person in the workspace acting toward the app, as Slack relays it.

``sandbox.user("U1")`` types slash commands, clicks buttons by their label, fills in and submits
modals, posts messages and opens the App Home. Each action builds the exact payload Slack would,
delivers it, and then applies what Slack does with the app's answer (a slash command's response
body becomes an ephemeral message; a view_submission's ``response_action`` updates the modal).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import payloads
from .blockkit import (
    FoundButton,
    button_labels,
    find_buttons,
    find_inputs,
    state_value,
    view_errors,
)
from .delivery import Deliverer, Transport
from .interactions import Interactions
from .pane import PaneSide
from .records import Channel, Ephemeral, Message, ViewRecord
from .transport import Delivery
from .workspace import Workspace

JsonDict = dict[str, Any]
Clickable = Message | Ephemeral | ViewRecord


@dataclass(frozen=True)
class Posted:
    """A message the user posted and the event delivery it caused (if any)."""

    message: Message
    delivery: Delivery | None


class SandboxUser:
    """One workspace member; every method delivers one request and returns the app's answer."""

    def __init__(
        self,
        user_id: str,
        workspace: Workspace,
        interactions: Interactions,
        deliverer: Deliverer,
        base_url: Callable[[], str],
        transport: Transport | None = None,
    ) -> None:
        if user_id not in workspace.users:
            raise KeyError(f"no user {user_id} in the sandbox workspace")
        self.id = user_id
        self.workspace = workspace
        self.interactions = interactions
        self.deliverer = deliverer
        self.base_url = base_url
        self.transport = transport

    @property
    def pane(self) -> PaneSide:
        """This person's side of the agent pane (``app/sandbox/pane.py``)."""
        return PaneSide(self)

    # ------------------------------------------------------------------ handles
    def _channel(self, ref: str) -> Channel:
        channel = self.workspace.resolve_channel(ref)
        if channel is None:
            raise KeyError(f"no channel {ref!r} in the sandbox workspace")
        return channel

    def new_response_url(self, channel: Channel | None, **source: Any) -> str:
        """A fresh response_url for this user, as Slack hands one out with a command."""
        response_id = self.interactions.issue_response(
            self.id, channel.id if channel else None, **source
        )
        return f"{self.base_url()}response/{response_id}"

    # ------------------------------------------------------------------ commands and shortcuts
    async def command(self, command: str, text: str = "", channel: str = "C0GENERAL") -> Delivery:
        """Type ``/command text`` in ``channel``; a non-empty answer body is shown like Slack."""
        target = self._channel(channel)
        form = payloads.slash_command(
            self.workspace,
            self.id,
            target,
            command,
            text,
            trigger_id=self.interactions.issue_trigger(self.id),
            response_url=self.new_response_url(target),
        )
        delivery = await self.deliverer.command(form, self.transport)
        self._show_command_answer(target, delivery)
        return delivery

    def _show_command_answer(self, channel: Channel, delivery: Delivery) -> None:
        if delivery.status != 200 or not delivery.body.strip():
            return
        answer = delivery.json()
        if not isinstance(answer, dict):
            answer = {"text": delivery.body}
        text = str(answer.get("text") or "")
        blocks = list(answer.get("blocks") or [])
        if not text and not blocks:
            return
        if answer.get("response_type") == "in_channel":
            self.workspace.add_message(channel.id, text, bot=True, blocks=blocks)
        else:
            self.workspace.add_ephemeral(channel.id, self.id, text, blocks, source="command_ack")

    async def message_shortcut(self, callback_id: str, message: Message) -> Delivery:
        """Run a message shortcut (e.g. *Summarize thread*) on ``message``."""
        channel = self._channel(message.channel)
        payload = payloads.message_action(
            self.workspace,
            self.id,
            channel,
            message,
            callback_id,
            trigger_id=self.interactions.issue_trigger(self.id),
            response_url=self.new_response_url(channel, thread_ts=message.thread_ts or message.ts),
        )
        return await self.deliverer.interactive(payload, self.transport)

    async def global_shortcut(self, callback_id: str) -> Delivery:
        trigger_id = self.interactions.issue_trigger(self.id)
        payload = payloads.global_shortcut(
            self.workspace, self.id, callback_id, trigger_id=trigger_id
        )
        return await self.deliverer.interactive(payload, self.transport)

    # ------------------------------------------------------------------ clicking
    async def click(self, label: str, in_: Clickable | None = None) -> Delivery:
        """Click the button labelled ``label`` in ``in_`` (default: search what this user sees)."""
        source, button = self._locate(label, in_)
        if isinstance(source, ViewRecord):
            payload = payloads.block_actions_in_view(
                self.workspace,
                self.id,
                source,
                button.element,
                button.block_id,
                trigger_id=self.interactions.issue_trigger(self.id, view_id=source.id),
            )
        else:
            payload = self._click_message(source, button)
        return await self.deliverer.interactive(payload, self.transport)

    def _click_message(self, source: Message | Ephemeral, button: FoundButton) -> JsonDict:
        channel = self._channel(source.channel)
        if isinstance(source, Ephemeral):
            response_url = self.new_response_url(
                channel, ephemeral_id=source.id, thread_ts=source.thread_ts
            )
        else:
            response_url = self.new_response_url(
                channel, message_ts=source.ts, thread_ts=source.thread_ts
            )
        return payloads.block_actions_on_message(
            self.workspace,
            self.id,
            channel,
            source,
            button.element,
            button.block_id,
            trigger_id=self.interactions.issue_trigger(self.id),
            response_url=response_url,
        )

    def _locate(self, label: str, in_: Clickable | None) -> tuple[Clickable, FoundButton]:
        candidates = [in_] if in_ is not None else self.visible()
        for candidate in candidates:
            found = find_buttons(candidate.blocks, label)
            if len(found) > 1:
                raise AssertionError(f"{len(found)} buttons labelled {label!r} in {candidate!r}")
            if found:
                return candidate, found[0]
        seen = sorted({lbl for c in candidates for lbl in button_labels(c.blocks)})
        raise AssertionError(f"no button labelled {label!r}; buttons present: {seen}")

    def visible(self) -> list[Clickable]:
        """What this user can click, most relevant first: open modal, ephemerals, messages, home."""
        found: list[Clickable] = []
        found.extend(self.workspace.views[v] for v in reversed(self.open_modals_ids()))
        found.extend(
            e for e in reversed(self.workspace.ephemerals) if e.user == self.id and not e.deleted
        )
        messages: list[Message] = [
            m
            for c in self.workspace.channels.values()
            if self.id in c.members or not c.is_private
            for m in c.by_ts.values()
        ]
        messages.sort(key=lambda m: m.ts, reverse=True)
        found.extend(messages)
        home_id = self.workspace.homes.get(self.id)
        if home_id:
            found.append(self.workspace.views[home_id])
        return found

    # ------------------------------------------------------------------ modals
    def open_modals_ids(self) -> list[str]:
        return list(self.workspace.modal_stacks.get(self.id, []))

    @property
    def modal(self) -> ViewRecord | None:
        """The modal on top of this user's stack, if one is open."""
        stack = self.open_modals_ids()
        return self.workspace.views[stack[-1]] if stack else None

    async def submit(
        self, values: dict[str, Any] | None = None, view: ViewRecord | None = None
    ) -> Delivery:
        """Submit the open modal with ``values`` keyed by input label, block_id or action_id."""
        record = view or self.modal
        if record is None:
            raise AssertionError(f"user {self.id} has no open modal to submit")
        record.state = _state_values(record, values or {})
        trigger_id = self.interactions.issue_trigger(self.id, view_id=record.id)
        payload = payloads.view_submission(self.workspace, self.id, record, trigger_id=trigger_id)
        delivery = await self.deliverer.interactive(payload, self.transport)
        self._apply_submission_answer(record, delivery)
        return delivery

    def _apply_submission_answer(self, record: ViewRecord, delivery: Delivery) -> None:
        """What Slack does with the ack of a view_submission (``response_action``)."""
        if delivery.status != 200:
            return
        answer = delivery.json() if delivery.body.strip() else {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        stack = self.workspace.modal_stacks.setdefault(self.id, [])
        if action == "errors":
            record.errors = dict(answer.get("errors") or {})
        elif action == "update" and not view_errors(answer.get("view")):
            record.view, record.errors = answer["view"], {}
        elif action == "push" and not view_errors(answer.get("view")):
            self._push(record, answer["view"])
        elif action == "clear":
            self._close(stack, len(stack))
        else:
            self._close(stack, 1)
        self.workspace.on_change()

    def _push(self, record: ViewRecord, view: JsonDict) -> None:
        workspace = self.workspace
        pushed = ViewRecord(
            id=workspace.new_id("V"),
            type="modal",
            user=self.id,
            view=view,
            hash=record.hash,
            team_id=workspace.team_id,
            app_id=workspace.app_id,
            bot_id=workspace.bot_id,
            root_view_id=record.root_view_id or record.id,
            previous_view_id=record.id,
        )
        workspace.views[pushed.id] = pushed
        workspace.modal_stacks.setdefault(self.id, []).append(pushed.id)

    def _close(self, stack: list[str], count: int) -> None:
        for _ in range(min(count, len(stack))):
            self.workspace.views[stack.pop()].closed = True

    async def close(self, view: ViewRecord | None = None) -> Delivery | None:
        """Press Cancel; the app hears about it only if the view asked (``notify_on_close``)."""
        record = view or self.modal
        if record is None:
            raise AssertionError(f"user {self.id} has no open modal to close")
        self._close(self.workspace.modal_stacks.get(self.id, []), 1)
        self.workspace.on_change()
        if not record.view.get("notify_on_close"):
            return None
        payload = payloads.view_closed(self.workspace, self.id, record)
        return await self.deliverer.interactive(payload, self.transport)

    # ------------------------------------------------------------------ messages and events
    async def post(self, channel: str, text: str, thread_ts: str | None = None) -> Posted:
        """Post as this user; the bot hears it when mentioned or when it is a DM to the bot."""
        target = self._channel(channel)
        message = self.workspace.add_message(target.id, text, user=self.id, thread_ts=thread_ts)
        bot_mention = f"<@{self.workspace.bot_user_id}>" in text
        if not (target.is_im or bot_mention):
            return Posted(message, None)
        event = payloads.message_event(self.workspace, message, target)
        return Posted(message, await self.event(event))

    async def mention(self, channel: str, text: str, thread_ts: str | None = None) -> Posted:
        """Post ``@Steward text`` (the bot mention is prepended)."""
        return await self.post(channel, f"<@{self.workspace.bot_user_id}> {text}", thread_ts)

    async def dm(self, text: str, thread_ts: str | None = None) -> Posted:
        """Send the bot a direct message."""
        return await self.post(self.workspace.open_im(self.id).id, text, thread_ts)

    async def open_home(self) -> Delivery:
        """Open the App Home tab (``app_home_opened``)."""
        channel = self.workspace.open_im(self.id)
        home_id = self.workspace.homes.get(self.id)
        home = self.workspace.views[home_id] if home_id else None
        return await self.event(payloads.app_home_opened(self.workspace, self.id, channel, home))

    async def event(self, event: JsonDict, event_id: str | None = None) -> Delivery:
        """Deliver any Events API ``event`` inside an ``event_callback`` envelope."""
        body = payloads.event_callback(self.workspace, event, event_id)
        return await self.deliverer.event(body, transport=self.transport)

    async def redeliver(
        self, delivery: Delivery, retry_num: int = 1, reason: str = "http_timeout"
    ) -> Delivery:
        """Slack's retry of an event: same body and ``event_id``, with retry headers."""
        if not isinstance(delivery.sent, dict) or delivery.sent.get("type") != "event_callback":
            raise ValueError("only event deliveries can be retried")
        return await self.deliverer.event(
            delivery.sent, retry_num=retry_num, retry_reason=reason, transport=self.transport
        )


def _state_values(view: ViewRecord, values: dict[str, Any]) -> JsonDict:
    """``view.state.values`` for the inputs in ``view``; unknown keys are an error."""
    inputs = find_inputs(view.blocks)
    state: JsonDict = {}
    used: set[str] = set()
    for found in inputs:
        key = next((k for k in (found.label, found.block_id, found.action_id) if k in values), None)
        value = values[key] if key is not None else None
        if key is not None:
            used.add(key)
        entry = state_value(found.element, value) if value is not None else _empty(found.type)
        state.setdefault(found.block_id, {})[found.action_id] = entry
    unknown = set(values) - used
    if unknown:
        known = [(f.label, f.block_id, f.action_id) for f in inputs]
        raise AssertionError(f"no inputs {sorted(unknown)} in view; inputs are {json.dumps(known)}")
    return state


def _empty(kind: str) -> JsonDict:
    if kind.startswith("multi_") or kind == "checkboxes":
        key = {"checkboxes": "selected_options", "multi_static_select": "selected_options"}.get(
            kind, "selected_" + kind.removeprefix("multi_").removesuffix("_select") + "s"
        )
        return {"type": kind, key: []}
    if kind in ("static_select", "radio_buttons", "external_select"):
        return {"type": kind, "selected_option": None}
    return {"type": kind, "value": None}
