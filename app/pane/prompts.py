"""Suggested prompts for the agent pane, fitted to what the person is viewing and to what policy
allows them there: nothing is offered that policy (or a pause) would refuse.

Source: docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts — up to four,
each a `title` shown and a `message` sent as the person's message when clicked.
"""

from __future__ import annotations

from app.governance import gate as governance
from app.pane.intents import Viewing
from app.runtime.services import Services
from app.slack.agent import SuggestedPrompt

TITLE = "Try asking"


async def _allowed(services: Services, user_id: str, use_case: str, channel_id: str) -> bool:
    if use_case not in services.policy.use_cases:
        return False
    decision = await governance.decide(services, user_id, use_case, channel_id)
    return decision.allowed


async def suggest(
    services: Services, user_id: str, viewing: Viewing | None
) -> list[SuggestedPrompt]:
    if viewing is None:
        return [
            SuggestedPrompt("What can you do?", "help"),
            SuggestedPrompt("Summarise a thread", "summarise this thread"),
        ]
    label = f"#{viewing.channel_name}" if viewing.channel_name else "this channel"
    channel = viewing.channel_id
    paused = await services.pause.state() is not None
    prompts: list[SuggestedPrompt] = []
    if not paused and await _allowed(services, user_id, "summarize", channel):
        prompts.append(
            SuggestedPrompt(
                f"Summarise {label} since yesterday", f"summarise {label} since yesterday"
            )
        )
        if viewing.thread_ts:
            prompts.append(SuggestedPrompt("Summarise this thread", "summarise this thread"))
    if not paused and await _allowed(services, user_id, "draft", channel):
        prompts.append(SuggestedPrompt("Draft a reply", "draft a reply"))
    prompts.append(SuggestedPrompt(f"What may AI do in {label}?", f"what may AI do in {label}?"))
    return prompts[:4]
