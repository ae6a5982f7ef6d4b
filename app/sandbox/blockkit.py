"""Block Kit validation and lookup, as Slack applies it.

Validation goes through slack_sdk's models (their ``to_dict()`` validates the whole tree) and
then adds the limits the models do not check, so an app that would get ``invalid_blocks`` from
Slack gets it here too. Lookup finds buttons by their visible label and input elements by
label/block_id/action_id, because tests (and people) find controls by what they read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JsonDict = dict[str, Any]

# Source: docs.slack.dev/reference/block-kit/blocks — "You can include up to 50 blocks in each
# message, and 100 blocks in modals or Home tabs".
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
# Source: docs.slack.dev/reference/methods/chat.postMessage, "Truncating content": text over
# 40,000 characters is refused (msg_too_long in the method's errors).
MAX_TEXT = 40_000

# Source: docs.slack.dev/reference/block-kit/blocks/markdown-block — "The cumulative limit for all
# markdown blocks in a single payload is 12,000 characters"; a Slack maintainer in
# github.com/slackapi/bolt-js/issues/2509 (msg_blocks_too_long at ~13,200 characters across
# markdown/section/header blocks): the limit is "12,000 text characters with a buffer for block
# containers"; github.com/slackapi/bolt-js/issues/2867: rejected at 11,341 characters of text over
# 45 rich_text/section/header blocks, so block containers count too. The sandbox counts every
# ``text`` string anywhere in the blocks and rejects a total above 12,000 (Slack's exact
# container allowance is unpublished; an app that stays under 12,000 text characters is safe).
MAX_BLOCKS_TEXT = 12_000


def blocks_text_length(value: Any) -> int:
    """Characters of every ``text`` string anywhere in a blocks tree (nested text objects,
    rich_text elements, fields, buttons...)."""
    if isinstance(value, list):
        return sum(blocks_text_length(v) for v in value)
    if not isinstance(value, dict):
        return 0
    total = 0
    for key, item in value.items():
        if key == "text" and isinstance(item, str):
            total += len(item)
        else:
            total += blocks_text_length(item)
    return total


def blocks_too_long(blocks: Any) -> bool:
    """Whether Slack answers ``msg_blocks_too_long`` for these message blocks."""
    return blocks_text_length(blocks) > MAX_BLOCKS_TEXT


def _block_problems(blocks: Any, limit: int) -> list[str]:
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"[json-pointer:/blocks/{index}]"
        problems.extend(f"{p} {pointer}" for p in _one_block_problems(block))
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id:
            if block_id in seen_block_ids:
                problems.append(f"duplicate block_id {block_id!r} {pointer}")
            seen_block_ids.add(block_id)
    return problems


def _one_block_problems(block: Any) -> list[str]:
    if not isinstance(block, dict):
        return ["expected an object"]
    try:
        parsed = Block.parse(block)
    except Exception as exc:  # the models raise TypeError/ValueError/SlackObjectFormationError
        return [f"invalid block: {exc}"]
    if parsed is None:
        return [f"unsupported type: {block.get('type')!r}"]
    try:
        parsed.to_dict()  # validates nested elements too
    except Exception as exc:
        return [str(exc)]
    return _duplicate_action_ids(block)


def _duplicate_action_ids(block: JsonDict) -> list[str]:
    seen: set[str] = set()
    problems = []
    for element in _elements_of(block):
        action_id = element.get("action_id")
        if action_id in seen:
            problems.append(f"duplicate action_id {action_id!r}")
        if action_id:
            seen.add(action_id)
    return problems


def message_block_errors(blocks: Any) -> list[str]:
    """Problems Slack would report as ``invalid_blocks`` for a message's ``blocks``."""
    return _block_problems(blocks, MAX_MESSAGE_BLOCKS)


def view_errors(view: Any) -> list[str]:
    """Problems Slack would report as ``invalid_arguments``/``invalid_blocks`` for a view."""
    if not isinstance(view, dict):
        return ["view must be an object [json-pointer:/view]"]
    problems = _block_problems(view.get("blocks", []), MAX_VIEW_BLOCKS)
    if problems:
        return problems
    try:
        View(**view).to_dict()
    except Exception as exc:
        return [f"{exc} [json-pointer:/view]"]
    has_inputs = any(b.get("type") == "input" for b in view.get("blocks", []))
    if view.get("type") == "modal" and has_inputs and not view.get("submit"):
        return ["submit is required when a modal has input blocks [json-pointer:/view/submit]"]
    return []


# --------------------------------------------------------------------------- lookup
def _elements_of(block: JsonDict) -> Iterator[JsonDict]:
    """Interactive elements directly inside a block (actions/context elements, accessories)."""
    for element in block.get("elements", []) or []:
        if isinstance(element, dict) and (
            "action_id" in element or element.get("type") == "button"
        ):
            yield element
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        yield accessory
    element = block.get("element")
    if isinstance(element, dict):
        yield element


def text_of(obj: Any) -> str:
    """Visible text of a text object (``{"type": "plain_text", "text": ...}``) or string."""
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


@dataclass(frozen=True)
class FoundButton:
    """A button located by label, with the block that holds it."""

    block_id: str
    element: JsonDict

    @property
    def action_id(self) -> str:
        return str(self.element.get("action_id", ""))


def find_buttons(blocks: list[JsonDict], label: str) -> list[FoundButton]:
    """Every button whose label equals ``label`` (exact, then case-insensitive)."""
    buttons = [
        FoundButton(block_id=str(block.get("block_id", "")), element=element)
        for block in blocks
        for element in _elements_of(block)
        if element.get("type") == "button"
    ]
    exact = [b for b in buttons if text_of(b.element.get("text")) == label]
    if exact:
        return exact
    return [b for b in buttons if text_of(b.element.get("text")).lower() == label.lower()]


def button_labels(blocks: list[JsonDict]) -> list[str]:
    """All button labels, for error messages that say what *was* there."""
    return [
        text_of(element.get("text"))
        for block in blocks
        for element in _elements_of(block)
        if element.get("type") == "button"
    ]


@dataclass(frozen=True)
class FoundInput:
    """An input element in a view: where its value goes in ``state.values``."""

    block_id: str
    action_id: str
    label: str
    element: JsonDict

    @property
    def type(self) -> str:
        return str(self.element.get("type", ""))


def find_inputs(blocks: list[JsonDict]) -> list[FoundInput]:
    """Input elements of a view: ``input`` blocks plus interactive elements in actions blocks."""
    found = []
    for index, block in enumerate(blocks):
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        found.append(
            FoundInput(
                block_id=str(block.get("block_id") or f"block{index}"),
                action_id=str(element.get("action_id") or f"action{index}"),
                label=text_of(block.get("label")),
                element=element,
            )
        )
    return found


def _option_for(element: JsonDict, value: Any) -> JsonDict:
    """The option object whose value or label matches, as Slack reports a selection."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    for option in options:
        if option.get("value") == value or text_of(option.get("text")) == value:
            return dict(option)
    return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}


def state_value(element: JsonDict, value: Any) -> JsonDict:
    """The ``state.values[block][action]`` entry Slack sends for ``value`` in ``element``."""
    kind = str(element.get("type", "plain_text_input"))
    multi = isinstance(value, list | tuple)
    values = list(value) if multi else [value]
    simple: dict[str, tuple[str, Any]] = {
        "plain_text_input": ("value", value),
        "number_input": ("value", str(value)),
        "email_text_input": ("value", value),
        "url_text_input": ("value", value),
        "datepicker": ("selected_date", value),
        "timepicker": ("selected_time", value),
        "users_select": ("selected_user", value),
        "conversations_select": ("selected_conversation", value),
        "channels_select": ("selected_channel", value),
        "multi_users_select": ("selected_users", values),
        "multi_conversations_select": ("selected_conversations", values),
        "multi_channels_select": ("selected_channels", values),
    }
    if kind in simple:
        key, payload = simple[kind]
        return {"type": kind, key: payload}
    if kind in ("static_select", "radio_buttons", "external_select"):
        return {"type": kind, "selected_option": _option_for(element, value)}
    if kind in ("multi_static_select", "checkboxes", "multi_external_select"):
        return {"type": kind, "selected_options": [_option_for(element, v) for v in values]}
    if kind == "rich_text_input":
        rich = {
            "type": "rich_text",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": str(value)}]}
            ],
        }
        return {"type": kind, "rich_text_value": rich}
    return {"type": kind, "value": value}
