"""Block Kit builders. Built with slack_sdk's models so malformed UI fails where it is made."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

SECTION_TEXT_LIMIT = 3000
VIEW_BLOCK_LIMIT = 100


@dataclass(frozen=True)
class Message:
    """What the core wants shown: fallback text (notifications, screen readers) and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def header(text: str) -> Block:
    return HeaderBlock(text=PlainTextObject(text=text[:150]))


def section(markdown: str) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=markdown[:SECTION_TEXT_LIMIT]))


def sections(markdown: str) -> list[Block]:
    """Long text as several sections, split on line boundaries: never truncated."""
    out: list[Block] = []
    current = ""
    for line in markdown.splitlines(keepends=True):
        while len(line) > SECTION_TEXT_LIMIT:
            out.append(section(line[:SECTION_TEXT_LIMIT]))
            line = line[SECTION_TEXT_LIMIT:]
        if len(current) + len(line) > SECTION_TEXT_LIMIT:
            out.append(section(current))
            current = ""
        current += line
    if current.strip():
        out.append(section(current))
    return out


def context(*markdown: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=m[:2000]) for m in markdown[:10]])


def divider() -> Block:
    return DividerBlock()


def button(label: str, action_id: str, value: str = "", style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=label[:75]), action_id=action_id, value=value[:2000], style=style
    )


def actions(*buttons: ButtonElement, block_id: str | None = None) -> Block:
    return ActionsBlock(elements=list(buttons)[:25], block_id=block_id)


def to_dicts(blocks: Iterable[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def message(text: str, blocks: Sequence[Block]) -> Message:
    """Any number of blocks: the Slack port splits what one message cannot hold
    (`app/slack/message_split.py`)."""
    return Message(text=text, blocks=to_dicts(blocks))


def home_view(blocks: Sequence[Block]) -> dict[str, Any]:
    view = View(type="home", blocks=list(blocks)[:VIEW_BLOCK_LIMIT])
    view.validate_json()
    return view.to_dict()
