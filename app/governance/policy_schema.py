"""The policy file's schema: what each section may say (pydantic models, strict, unknown keys
refused), and what an approval block means once merged (`ApprovalRule`).

Reading a file into these models is app/governance/policy.py; applying one to a request is
app/governance/resolution.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from app.governance.budget import Budget
from app.governance.durations import parse_duration
from app.governance.name_refs import CHANNEL_NAME, NameRef

USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
HANDLE = re.compile(r"@[a-z0-9][a-z0-9._-]*")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BUDGET = Budget(
    user_daily_tokens=200_000, team_daily_tokens=5_000_000, user_requests_per_minute=10
)
# How long an approval request stays open after its last escalation when expire_after is unset.
DEFAULT_EXPIRY_AFTER_LAST_STEP = timedelta(hours=24)


def _duration(value: Any) -> timedelta:
    return parse_duration(value)


def channel_id(value: Any) -> str:
    """A channel ID, or a `#name` (resolved to its ID through Slack: policy_names.py)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a channel ID like C0123ABCD, got {value!r}")
    if value.startswith("#") and CHANNEL_NAME.fullmatch(value):
        return value
    if not CHANNEL_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a channel ID (like C0123ABCD) or name (like #launch)")
    return value


def _channel_pattern(value: Any) -> str:
    return "*" if value == "*" else channel_id(value)


def user_id(value: Any) -> str:
    if not isinstance(value, str) or not USER_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack user ID (like U0123ABCD)")
    return value


def person(value: Any) -> str:
    """`admins` / `auditors`: a user ID, or an `@name` resolved through Slack at load."""
    if isinstance(value, str) and HANDLE.fullmatch(value):
        return value
    if not isinstance(value, str) or not USER_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack user ID (like U0123ABCD) or @name")
    return value


def member(value: Any) -> str:
    if isinstance(value, str) and HANDLE.fullmatch(value):
        return value
    if isinstance(value, str) and USER_ID.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is neither a Slack user ID (like U0123ABCD) "
        'nor a user group handle (like "@legal-team")'
    )


def audience_entry(value: Any) -> str:
    """One entry of `users` / `deny_users`: a user ID, a user-group handle or a policy group."""
    if isinstance(value, str) and (
        USER_ID.fullmatch(value) or HANDLE.fullmatch(value) or NAME.fullmatch(value)
    ):
        return value
    raise ValueError(
        f"{value!r} is not a Slack user ID (like U0123ABCD), a user group handle "
        '(like "@eng-managers") or a group name from `groups`'
    )


def name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a name, got {value!r}")
    if not NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name (lower-case letters, digits, '-' or '_', "
            "starting with a letter)"
        )
    return value


Duration = Annotated[timedelta, PlainValidator(_duration)]
ChannelId = Annotated[str, PlainValidator(channel_id)]
ChannelPattern = Annotated[str, PlainValidator(_channel_pattern)]
UserId = Annotated[str, PlainValidator(user_id)]
Member = Annotated[str, PlainValidator(member)]
AudienceEntry = Annotated[str, PlainValidator(audience_entry)]
Name = Annotated[str, PlainValidator(name)]
Count = Annotated[int, Field(strict=True, ge=0)]


class _Section(BaseModel):
    # strict: "yes" is not a number and 1 is not a string; unknown keys are mistakes, not extras.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BudgetLimits(_Section):
    """A budget as written: any key may be left out and is then inherited."""

    user_daily_tokens: Count | None = None
    team_daily_tokens: Count | None = None
    user_requests_per_minute: Count | None = None

    def over(self, base: Budget) -> Budget:
        return Budget(
            user_daily_tokens=first_set(self.user_daily_tokens, base.user_daily_tokens),
            team_daily_tokens=first_set(self.team_daily_tokens, base.team_daily_tokens),
            user_requests_per_minute=first_set(
                self.user_requests_per_minute, base.user_requests_per_minute
            ),
        )


class ChainStep(_Section):
    after: Duration
    to: Name


ESCALATION_KEYS = frozenset({"escalate_after", "escalate_to", "chain"})


class ApprovalConfig(_Section):
    """An `approval:` block as written (use case or channel override)."""

    required: bool | None = None
    approvers: Name | None = None
    escalate_after: Duration | None = None
    escalate_to: Name | None = None
    chain: list[ChainStep] | None = None
    expire_after: Duration | None = None
    channel: ChannelId | None = None

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.approvers is not None

    def under(self, base: ApprovalConfig | None) -> ApprovalConfig:
        """This block merged over `base`: key by key, escalation replaced as a whole."""
        if base is None:
            return self
        given = self.model_fields_set
        update = {key: getattr(self, key) for key in given}
        if given & ESCALATION_KEYS:
            update = {key: None for key in ESCALATION_KEYS} | update
        if "approvers" in given and "required" not in given:
            update["required"] = None  # naming approvers here implies approval, as at top level
        return base.model_copy(update=update)


Share = Annotated[float, Field(ge=0.0, le=1.0)]


class RequireEval(_Section):
    """`defaults.require_eval`: the `steward eval` scores a model needs to be allowed
    (app/governance/model_evidence.py); each is a share from 0 to 1."""

    min_recall: Share = 0.8
    max_unsupported: Share = 0.05
    injection: Share = 1.0


class Defaults(_Section):
    model: str = DEFAULT_MODEL
    allowed_models: list[str] | None = None
    require_eval: RequireEval | None = None
    redact_pii: bool = True
    retention_days: Annotated[int, Field(strict=True, ge=1)] = 365
    budget: BudgetLimits = BudgetLimits()

    @property
    def effective_budget(self) -> Budget:
        return self.budget.over(DEFAULT_BUDGET)


class UseCase(_Section):
    channels: list[ChannelPattern] = ["*"]
    deny_channels: list[ChannelId] = []
    users: list[AudienceEntry] | None = None  # None: everyone
    deny_users: list[AudienceEntry] = []
    model: str | None = None
    allowed_models: list[str] | None = None
    redact_pii: bool | None = None
    budget: BudgetLimits | None = None
    approval: ApprovalConfig | None = None


class ChannelUseCase(_Section):
    """`channels.<ID>.<use case>`: overrides for one use case in one channel."""

    enabled: bool | None = None
    users: list[AudienceEntry] | None = None  # None: the use case's list applies
    deny_users: list[AudienceEntry] = []
    model: str | None = None
    redact_pii: bool | None = None
    budget: BudgetLimits | None = None
    approval: ApprovalConfig | None = None


class AuditSettings(_Section):
    """`audit:`: where signed checkpoints of the audit log are published besides the file, and
    what the log keeps of outputs (`app.audit.content`)."""

    checkpoint_channel: ChannelId | None = None
    content: Literal["full", "redacted", "hashed"] = "full"


class Policy(BaseModel):
    """A validated policy. Build one with `load_policy`/`load_policy_text`, not directly."""

    model_config = ConfigDict(frozen=True)

    admins: list[str] = []
    auditors: list[str] = []
    groups: dict[str, list[str]] = {}
    defaults: Defaults = Defaults()
    use_cases: dict[str, UseCase] = {}
    channels: dict[str, dict[str, ChannelUseCase]] = {}
    audit: AuditSettings = AuditSettings()
    source_name: str = "<policy>"
    source_hash: str = ""  # sha256 of the file's bytes, recorded in policy_changed events
    # Names written where IDs could be (`#launch`, `@priya`), until resolved (policy_names.py).
    names: tuple[NameRef, ...] = ()


TOP_LEVEL: dict[str, type[BaseModel] | None] = {
    "admins": None,
    "auditors": None,
    "groups": None,
    "defaults": Defaults,
    "use_cases": UseCase,
    "channels": ChannelUseCase,
    "audit": AuditSettings,
}

# ---------------------------------------------------------------------------------------------
# The normalised approval rule (what an approval block means)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalStep:
    group: str
    after: timedelta  # since submission; the first step is asked at once (0s)


@dataclass(frozen=True)
class ApprovalRule:
    required: bool
    steps: tuple[ApprovalStep, ...]
    expire_after: timedelta  # since submission
    channel: str | None  # None: a thread in the draft's own channel

    @property
    def approvers(self) -> str:
        return self.steps[0].group


def escalation_steps(config: ApprovalConfig) -> list[tuple[str, timedelta]]:
    if config.chain is not None:
        return [(step.to, step.after) for step in config.chain]
    if config.escalate_to is not None and config.escalate_after is not None:
        return [(config.escalate_to, config.escalate_after)]
    return []


def approval_rule(config: ApprovalConfig | None) -> ApprovalRule | None:
    """The normalised rule for an (already merged) approval block; None when not required."""
    if config is None or not config.is_required or config.approvers is None:
        return None
    steps = [ApprovalStep(config.approvers, timedelta(0))]
    steps += [ApprovalStep(group, after) for group, after in escalation_steps(config)]
    expire = config.expire_after or steps[-1].after + DEFAULT_EXPIRY_AFTER_LAST_STEP
    return ApprovalRule(True, tuple(steps), expire, config.channel)


def first_set(*values: Any) -> Any:
    return next(v for v in values if v is not None)
