"""Resolution: the one answer to "may user U use use case X in channel C, and under which
approval rule, model, redaction and budget?", naming the rule it used (shown by Why?, stored in
the audit trail).

Resolution order: defaults → use case → channel override → granted requests. The decisions that
are not obvious from the file format:

- A use case not listed under `use_cases` is off everywhere, and a grant cannot turn it on: a grant
  borrows the use case's settings (approval, model...), and an unlisted one has none to borrow.
- Listing a use case without `channels` means `channels: ["*"]`.
- An explicit deny in the file (`deny_channels`, or `enabled: false` in a channel override) beats
  everything: `"*"`, a channel listed in `channels`, and a granted request. The file is the
  reviewed, versioned source of truth; a grant is an overlay for channels the file leaves closed,
  so undoing a deliberate "no" takes a file edit, not a button click.
- A channel override's settings apply only in its own channel. Only `enabled: true` turns a use
  case on in a channel; an override that just changes settings (e.g. the approvers) does not.
- Approval settings in a channel override are merged key by key over the use case's, except that
  the escalation (`escalate_after`/`escalate_to`/`chain`) is replaced as a whole when any of it is
  given.
- Within an `approval` block, `required` defaults to true when `approvers` is given.
- Escalation times count from submission: `chain: [{after: 4h, to: legal}, {after: 8h, to: cfo}]`
  asks legal 4 h and the cfo 8 h after the draft was submitted. They must increase, and
  `expire_after` must come after the last one; it defaults to the last step plus 24 h.
- Budgets in a use case or channel override are merged key by key over `defaults.budget`; the
  counters are shared across use cases, so a lower limit on one use case means "only while the
  user's total for the day is under this".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from app.governance import audience
from app.governance.budget import Budget
from app.governance.policy_schema import (
    DEFAULT_MODEL,
    ApprovalConfig,
    ApprovalRule,
    ChannelUseCase,
    Policy,
    UseCase,
    approval_rule,
    first_set,
)
from app.slack.mrkdwn import escape


@dataclass(frozen=True)
class Grant:
    """A granted use-case request: enables `use_case` in `channel_id` (stored in Redis)."""

    use_case: str
    channel_id: str
    id: str
    granted_by: str
    audience: str | None = None  # only for these people: "@handle" or a policy group name


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # which part of the policy decided, for Why? and the audit trail
    reason: str  # for the user when refused; "" when allowed
    model: str
    redact_pii: bool
    budget: Budget
    approval: ApprovalRule | None  # None: no approval needed (or refused)
    use_case: str = ""
    channel_id: str = ""
    policy_hash: str = ""
    grant_id: str | None = None
    audience_rule: str = ""  # the `users` list that let the person in; "" when none applies

    @property
    def full_rule(self) -> str:
        """Every rule that decided, for the audit trail and Why?: where, then who."""
        return f"{self.rule}; {self.audience_rule}" if self.audience_rule else self.rule


@dataclass(frozen=True)
class GroupMembers:
    user_ids: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()  # "@legal-team": resolve with usergroups.list/users.list

    def __bool__(self) -> bool:
        return bool(self.user_ids or self.handles)


def _settings(
    policy: Policy, use_case: UseCase | None, override: ChannelUseCase | None
) -> tuple[str, bool, Budget, ApprovalRule | None]:
    layers = [layer for layer in (use_case, override) if layer is not None]
    model = first_set(*(layer.model for layer in reversed(layers)), policy.defaults.model)
    redact = first_set(
        *(layer.redact_pii for layer in reversed(layers)), policy.defaults.redact_pii
    )
    budget = policy.defaults.effective_budget
    approval: ApprovalConfig | None = None
    for layer in layers:
        if layer.budget is not None:
            budget = layer.budget.over(budget)
        if layer.approval is not None:
            approval = layer.approval.under(approval)
    return model, redact, budget, approval_rule(approval)


def resolve(
    policy: Policy,
    user_id: str,
    use_case: str,
    channel_id: str,
    grants: Collection[Grant] = (),
    user_handles: Collection[str] = (),
) -> Decision:
    """May `user_id` use `use_case` in `channel_id`, and under which settings?

    Pure and deterministic (grants may come in any order). `user_handles` are the Slack user
    groups the person is in, of those `audience.handles_needed` names (looked up by the caller).
    Who is checked after the file's channel denials and before anything that turns the use case
    on, so a grant never lets in someone the file leaves out.
    """
    config = policy.use_cases.get(use_case)
    override = policy.channels.get(channel_id, {}).get(use_case)
    refusal = _denied(config, use_case, channel_id, override)
    who = audience.verdict(policy, user_id, use_case, channel_id, user_handles)
    # A grant for a group counts only for its members (`user_handles` holds its handle then).
    offered = [g for g in grants if g.use_case == use_case and g.channel_id == channel_id]
    grants = [
        g
        for g in offered
        if g.audience is None or audience.is_in(policy, g.audience, user_id, user_handles)
    ]
    if refusal is None and not who.allowed:
        refusal = (who.rule, who.reason)
    rule, grant_id = (None, None)
    if config is not None and refusal is None:
        rule, grant_id = _allowing_rule(config, use_case, channel_id, override, grants)
        if rule is None:
            refusal = _not_on(use_case, offered)
    common = {"use_case": use_case, "channel_id": channel_id, "policy_hash": policy.source_hash}
    if refusal is not None or rule is None:
        model, redact, budget, _ = _settings(policy, None, None)
        rule, reason = refusal or ("", "")
        return Decision(False, rule, reason, model, redact, budget, None, **common)
    model, redact, budget, approval = _settings(policy, config, override)
    return Decision(
        True,
        rule,
        "",
        model,
        redact,
        budget,
        approval,
        **common,
        grant_id=grant_id,
        audience_rule=who.rule,
    )


def _not_on(use_case: str, offered: list[Grant]) -> tuple[str, str]:
    """(rule, reason) when nothing turns the use case on here for this person."""
    if offered:  # on here, but only for a group they are not in
        grant = min(offered, key=lambda g: g.id)
        return (
            f"granted request {grant.id} (for {grant.audience})",
            f"'{use_case}' is on in this channel only for {escape(str(grant.audience))} "
            f"(granted request {grant.id}). You can ask the admins for it with "
            f"`/steward request {use_case}`.",
        )
    return (
        f"use_cases.{use_case}.channels",
        f"'{use_case}' is not enabled in this channel. "
        f"You can ask the admins for it with `/steward request {use_case}`.",
    )


def _denied(
    config: UseCase | None, use_case: str, channel_id: str, override: ChannelUseCase | None
) -> tuple[str, str] | None:
    """(rule, reason) when the file itself says no here; grants cannot change these."""
    if config is None:
        return (
            f"use case '{use_case}' not in policy",
            f"'{use_case}' is not enabled in this workspace's AI policy.",
        )
    off_here = f"'{use_case}' is turned off in this channel by policy."
    if channel_id in config.deny_channels:
        return f"use_cases.{use_case}.deny_channels", off_here
    if override is not None and override.enabled is False:
        return f"channels.{channel_id}.{use_case}.enabled", off_here
    return None


def _allowing_rule(
    config: UseCase,
    use_case: str,
    channel_id: str,
    override: ChannelUseCase | None,
    grants: Collection[Grant],
) -> tuple[str | None, str | None]:
    """The most specific layer that turns the use case on here (deny was checked already)."""
    if override is not None and (override.enabled or _listed(config, channel_id)):
        return f"channels.{channel_id}.{use_case}", None
    if channel_id in config.channels:
        return f"use_cases.{use_case} (channels: {channel_id})", None
    if "*" in config.channels:
        return f"use_cases.{use_case} (channels: *)", None
    matching = sorted(
        (g for g in grants if g.use_case == use_case and g.channel_id == channel_id),
        key=lambda g: g.id,  # several grants for the same thing: pick one deterministically
    )
    if matching:
        return f"granted request {matching[0].id}", matching[0].id
    return None, None


def grantable(policy: Policy, use_case: str, channel_id: str) -> bool:
    """Whether a granted request could turn `use_case` on in `channel_id`: it is listed in the
    file, the file does not deny it there, and the file does not already turn it on there."""
    config = policy.use_cases.get(use_case)
    if config is None:
        return False
    override = policy.channels.get(channel_id, {}).get(use_case)
    if _denied(config, use_case, channel_id, override) is not None:
        return False
    return _allowing_rule(config, use_case, channel_id, override, ())[0] is None


def channel_rule(policy: Policy, use_case: str, channel_id: str) -> tuple[bool, str]:
    """Whether the file turns `use_case` on in `channel_id` for the people it lets use it, and
    the rule that says so: the channel half of `resolve`, for questions about a channel rather
    than a person (a use-case request enables a channel; `users` still apply after a grant)."""
    config = policy.use_cases.get(use_case)
    override = policy.channels.get(channel_id, {}).get(use_case)
    denied = _denied(config, use_case, channel_id, override)
    if denied is not None or config is None:
        return False, denied[0] if denied is not None else ""
    rule = _allowing_rule(config, use_case, channel_id, override, ())[0]
    return (True, rule) if rule is not None else (False, f"use_cases.{use_case}.channels")


def _listed(config: UseCase, channel_id: str) -> bool:
    return "*" in config.channels or channel_id in config.channels


def approvers_for(policy: Policy, group_name: str) -> GroupMembers:
    """Members of an approver group; empty if the group no longer exists (nobody may approve)."""
    members = policy.groups.get(group_name, [])
    return GroupMembers(
        user_ids=tuple(m for m in members if not m.startswith("@")),
        handles=tuple(m for m in members if m.startswith("@")),
    )


def model_for(decision: Decision, policy: Policy, deployment_default: str) -> str:
    """The model to call: the policy's choice, or the deployment's OPENAI_MODEL when the policy
    names none (so a built-in or minimal policy works with any OpenAI-compatible server)."""
    if decision.model == DEFAULT_MODEL and "model" not in policy.defaults.model_fields_set:
        return deployment_default
    return decision.model
