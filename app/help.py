"""`/steward help`: what Steward can do in this workspace (App Home is app/home.py)."""

from __future__ import annotations

from functools import cache

from app.slack import blocks as bk

COMMANDS = [
    ("/summarize [3d | 6h | #channel 2d | thread link]", "summarise this channel or a thread"),
    ("/steward ask [thread link | #channel] <question>", "an answer from those messages only"),
    ("/draft <what you want>", "draft a message; a manager approves it when policy says so"),
    ("/steward policy", "what you may use here and why, your role, who approves, budget left"),
    ("/steward request <use-case>", "ask the admins to enable a use case here"),
    ("/steward audit | usage", "admins and auditors: review interactions and usage"),
    ("/steward pause [reason] | resume", "admins: stop or restart all AI calls"),
]

SHORTCUTS = [
    ("Summarize thread", "on any message: a cited summary of its thread, just for you"),
    ("Draft a reply", "on any message: a reply drafted from the thread"),
]


def _usage_lines() -> str:
    lines = [f"• `{usage}` — {what}" for usage, what in COMMANDS]
    lines += [f"• *{name}* (message shortcut) — {what}" for name, what in SHORTCUTS]
    return "\n".join(lines)


def help_message(engine: str, note: str | None = None) -> bk.Message:
    """The ephemeral answer to `/steward help` (and to commands Steward does not know)."""
    if note:
        return _render(engine, note)
    # The same for everyone (per engine): rendered once, not on every /steward help.
    cached = _plain_help(engine)
    return bk.Message(cached.text, list(cached.blocks))


@cache
def _plain_help(engine: str) -> bk.Message:
    return _render(engine, None)


def _render(engine: str, note: str | None) -> bk.Message:
    intro = (
        "*Steward* is this workspace's governed AI assistant: it summarises conversations and "
        "drafts messages, with citations, a confidence score and an audit trail."
    )
    parts = [bk.section(note)] if note else []
    parts += [
        bk.section(intro),
        bk.section(_usage_lines()),
        bk.context(
            f"Engine: {engine_label(engine)} · Every output is AI-generated, cites its sources "
            "and has a *Why?* button."
        ),
    ]
    return bk.message("Steward help: /summarize, /draft and /steward commands", parts)


def engine_label(engine: str) -> str:
    return "offline engine (no model key configured)" if engine == "offline" else "OpenAI model"
