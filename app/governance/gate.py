"""The policy gate every AI use case passes: is it allowed here, is AI paused, is there budget.

`decide` is the one question ("may U use X in C, and under which rule?"); `reserve` holds
tokens before a model call. Both raise `Refusal` with a message for the person and a code for
the audit trail.
"""

from __future__ import annotations

from app.governance import resolution
from app.governance.budget import BudgetExceeded, Reservation
from app.governance.grants import GrantStore
from app.runtime.services import Services
from app.slack.mrkdwn import escape


class Refusal(Exception):
    """The request may not go ahead; `message` is for the person, `code` for the audit."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


async def decide(
    services: Services, user_id: str, use_case: str, channel_id: str
) -> resolution.Decision:
    """The policy decision for this request (file policy plus granted use-case requests).

    `services.policy` is read here, per request, so a hot-reloaded policy applies to the next
    request in every process (app/governance/watch.py swaps it).
    """
    policy = services.policy
    grants: list[resolution.Grant] = []
    if use_case in policy.use_cases:  # an unlisted use case cannot be granted: skip the lookup
        stored = await GrantStore(services.redis).get(use_case, channel_id)
        if stored is not None:
            grants.append(stored.as_policy_grant())
    return resolution.resolve(policy, user_id, use_case, channel_id, grants)


async def check(services: Services, decision: resolution.Decision) -> None:
    """Raise Refusal unless the decision allows the request and AI is not paused."""
    if not decision.allowed:
        raise Refusal(f":no_entry: {decision.reason}", "policy")
    paused = await services.pause.state()
    if paused is not None:
        reason = f" ({escape(paused.reason)})" if paused.reason else ""
        raise Refusal(f":double_vertical_bar: AI paused by admins{reason}.", "paused")


async def reserve(
    services: Services, team_id: str, user_id: str, tokens: int, decision: resolution.Decision
) -> Reservation:
    """Hold `tokens` of the user's and team's budgets; settle with the real usage after."""
    held = await services.budgets.reserve(team_id, user_id, tokens, decision.budget)
    if isinstance(held, BudgetExceeded):
        raise Refusal(f":no_entry: {held.message()}", held.which)
    return held


def model_for(services: Services, decision: resolution.Decision) -> str:
    return resolution.model_for(decision, services.policy, services.settings.openai_model)
