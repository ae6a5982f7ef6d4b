"""The policy gate every AI use case passes: is it allowed here, is AI paused, is there budget.

`decide` is the one question ("may U use X in C, and under which rule?"); `admit` applies the
limits before any Slack or model work (the user's jobs in flight, the per-minute rate, a daily
budget already spent); `reserve` holds tokens before a model call. They raise `Refusal` with a
message for the person and a code for the audit trail.

The order in a use case: decide → audit `requested` → `check` → `admit` → only then read Slack,
say "working on it" and call the model. A flood of requests from one person is refused at the
cost of a few Redis calls each, never a fetch of the conversation.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from app.governance import audience, resolution
from app.governance.approvers import handles_of
from app.governance.budget import BudgetExceeded, Reservation
from app.governance.grants import GrantStore
from app.governance.name_lookup import ensure_resolved
from app.governance.policy_issues import PolicyError
from app.runtime import metrics
from app.runtime.services import Services
from app.slack.mrkdwn import escape
from app.slack.port import SlackError

IN_FLIGHT = "in_flight"  # the refusal code when the user has too many jobs running


class Refusal(Exception):
    """The request may not go ahead; `message` is for the person, `code` for the audit."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


async def decide(
    services: Services, user_id: str, use_case: str, channel_id: str
) -> resolution.Decision:
    """The policy decision for this request (file policy, granted use-case requests, and the
    Slack user groups its `users` / `deny_users` name).

    `services.policy` is read here, per request, so a hot-reloaded policy applies to the next
    request in every process (app/governance/watch.py swaps it). When Slack cannot say who is in
    a user group the answer is a refusal, never a guess: an empty group would lift a deny.
    """
    if services.policy.names:  # `#x` / `@x` not resolved yet: either could be a deny
        problem = await ensure_resolved(services)
        if problem is not None:
            return _unresolved(services, user_id, use_case, channel_id, problem)
    policy = services.policy
    grants: list[resolution.Grant] = []
    if use_case in policy.use_cases:  # an unlisted use case cannot be granted: skip the lookup
        now = datetime.now(UTC)
        stored = await GrantStore(services.redis).in_force(use_case, channel_id, now)
        grants = [grant.as_policy_grant() for grant in stored]
    needed = audience.handles_needed(policy, use_case, channel_id)
    for_groups = audience.handles_in(policy, [g.audience for g in grants if g.audience])
    needed += [handle for handle in for_groups if handle not in needed]
    try:
        groups = await handles_of(services, user_id, needed) if needed else []
    except SlackError as exc:
        return _unresolved(services, user_id, use_case, channel_id, exc, needed)
    return resolution.resolve(policy, user_id, use_case, channel_id, grants, groups)


def _unresolved(
    services: Services,
    user_id: str,
    use_case: str,
    channel_id: str,
    problem: SlackError | PolicyError,
    handles: list[str] | None = None,
) -> resolution.Decision:
    """A refusal because Slack could not say who or where the policy means: never a guess, as
    an empty group or an unknown name would lift a deny."""
    refused = resolution.resolve(services.policy, user_id, "", channel_id)
    if isinstance(problem, PolicyError):
        rule = "policy names: not found in Slack"
        reason = (
            f"Couldn't check who may use '{use_case}' here: the AI policy names channels or "
            "people Slack does not know. The admins can see which with "
            "`steward policy check --resolve`."
        )
    elif problem.method.startswith("usergroups."):
        rule = f"users of {use_case}: Slack user groups unavailable ({problem.code})"
        named = ", ".join(handles) if handles else "the policy's user groups"
        reason = (
            f"Couldn't check who may use '{use_case}' here: Slack did not say who is in "
            f"{escape(named)}. Try again in a few minutes."
        )
    else:
        rule = f"policy names: Slack unavailable ({problem.code})"
        reason = (
            f"Couldn't check who may use '{use_case}' here: Slack did not say what the "
            "policy's channel and people names are. Try again in a few minutes."
        )
    return dataclasses.replace(refused, rule=rule, reason=reason, use_case=use_case)


async def check(services: Services, decision: resolution.Decision) -> None:
    """Raise Refusal unless the decision allows the request and AI is not paused."""
    if not decision.allowed:
        raise Refusal(f":no_entry: {decision.reason}", "policy")
    paused = await services.pause.state()
    if paused is not None:
        reason = f" ({escape(paused.reason)})" if paused.reason else ""
        raise Refusal(f":double_vertical_bar: AI paused by admins{reason}.", "paused")


@contextlib.asynccontextmanager
async def in_flight(
    services: Services, team_id: str, user_id: str, job_id: str
) -> AsyncIterator[bool]:
    """One of the user's slots for jobs in flight, held for the block: True when taken (pass it
    to `admit`, which refuses the request when it was not). `STEWARD_USER_JOBS_IN_FLIGHT`."""
    cap = services.settings.steward_user_jobs_in_flight
    if cap <= 0:  # no cap
        yield True
        return
    taken = await services.budgets.enter(team_id, user_id, job_id, cap)
    try:
        yield taken
    finally:
        if taken:
            await services.budgets.leave(team_id, user_id, job_id)


async def admit(
    services: Services,
    team_id: str,
    user_id: str,
    decision: resolution.Decision,
    *,
    slot: bool,
    use_case: str,
) -> None:
    """The limits, before any Slack or model work: Refusal when the user already has their cap
    of jobs in flight (`slot` False), or, when a model will be called, when their per-minute
    rate is used up or a daily budget is already spent. An admitted request counts against the
    per-minute rate (its tokens are reserved later, with `reserve`). Refusals are counted."""
    if not slot:
        cap = services.settings.steward_user_jobs_in_flight
        metrics.LIMITED.labels(use_case=use_case, limit=IN_FLIGHT).inc()
        raise Refusal(
            f":hourglass: You already have {cap} requests running. Wait for one to finish, "
            "then ask again.",
            IN_FLIGHT,
        )
    if services.llm is None:  # the offline engine spends no budget (as `reserve` never runs)
        return
    refused = await services.budgets.admit(team_id, user_id, decision.budget)
    if refused is not None:
        metrics.LIMITED.labels(use_case=use_case, limit=refused.which).inc()
        raise Refusal(f":no_entry: {refused.message()}", refused.which)


async def reserve(
    services: Services, team_id: str, user_id: str, tokens: int, decision: resolution.Decision
) -> Reservation:
    """Hold `tokens` of the user's and team's budgets; settle with the real usage after. The
    request itself was counted by `admit`, at the start of the use case."""
    held = await services.budgets.reserve(
        team_id, user_id, tokens, decision.budget, count_request=False
    )
    if isinstance(held, BudgetExceeded):
        raise Refusal(f":no_entry: {held.message()}", held.which)
    return held


def model_for(services: Services, decision: resolution.Decision) -> str:
    return resolution.model_for(decision, services.policy, services.settings.openai_model)
