"""The governance policy file: its schema, and reading it with every mistake named by line.

The YAML is composed into nodes (not loaded straight to dicts) so every value keeps its line
number; validation collects *every* mistake as a `PolicyIssue(line, path, message)` rather than
stopping at the first, so an admin fixes a file in one pass. Structure and types are checked by
pydantic models; references between sections (groups, use cases, model allowlists, timer order)
by hand afterwards. Applying a policy to a request is `app/resolution.py`; comparing two
versions is `app/policy_diff.py`.

- Listing a use case without `channels` means `channels: ["*"]`.
- Within an `approval` block, `required` defaults to true when `approvers` is given.
- Escalation times count from submission: `chain: [{after: 4h, to: legal}, {after: 8h, to: cfo}]`
  asks legal 4 h and the cfo 8 h after the draft was submitted. They must increase, and
  `expire_after` must come after the last one; it defaults to the last step plus 24 h.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import types
import typing
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from app.governance.budget import Budget
from app.governance.durations import format_duration, parse_duration

# ---------------------------------------------------------------------------------------------
# Schema (what the file may say)
# ---------------------------------------------------------------------------------------------

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


def _channel_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a channel ID like C0123ABCD, got {value!r}")
    if value.startswith("#"):
        raise ValueError(f"{value!r} is a channel name; use its ID (like C0123ABCD)")
    if not CHANNEL_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a channel ID (like C0123ABCD)")
    return value


def _channel_pattern(value: Any) -> str:
    return "*" if value == "*" else _channel_id(value)


def _user_id(value: Any) -> str:
    if not isinstance(value, str) or not USER_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack user ID (like U0123ABCD)")
    return value


def _member(value: Any) -> str:
    if isinstance(value, str) and HANDLE.fullmatch(value):
        return value
    if isinstance(value, str) and USER_ID.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is neither a Slack user ID (like U0123ABCD) "
        'nor a user group handle (like "@legal-team")'
    )


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a name, got {value!r}")
    if not NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name (lower-case letters, digits, '-' or '_', "
            "starting with a letter)"
        )
    return value


Duration = Annotated[timedelta, PlainValidator(_duration)]
ChannelId = Annotated[str, PlainValidator(_channel_id)]
ChannelPattern = Annotated[str, PlainValidator(_channel_pattern)]
UserId = Annotated[str, PlainValidator(_user_id)]
Member = Annotated[str, PlainValidator(_member)]
Name = Annotated[str, PlainValidator(_name)]
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


class Defaults(_Section):
    model: str = DEFAULT_MODEL
    allowed_models: list[str] | None = None
    redact_pii: bool = True
    retention_days: Annotated[int, Field(strict=True, ge=1)] = 365
    budget: BudgetLimits = BudgetLimits()

    @property
    def effective_budget(self) -> Budget:
        return self.budget.over(DEFAULT_BUDGET)


class UseCase(_Section):
    channels: list[ChannelPattern] = ["*"]
    deny_channels: list[ChannelId] = []
    model: str | None = None
    allowed_models: list[str] | None = None
    redact_pii: bool | None = None
    budget: BudgetLimits | None = None
    approval: ApprovalConfig | None = None


class ChannelUseCase(_Section):
    """`channels.<ID>.<use case>`: overrides for one use case in one channel."""

    enabled: bool | None = None
    model: str | None = None
    redact_pii: bool | None = None
    budget: BudgetLimits | None = None
    approval: ApprovalConfig | None = None


class Policy(BaseModel):
    """A validated policy. Build one with `load_policy`/`load_policy_text`, not directly."""

    model_config = ConfigDict(frozen=True)

    admins: list[str] = []
    groups: dict[str, list[str]] = {}
    defaults: Defaults = Defaults()
    use_cases: dict[str, UseCase] = {}
    channels: dict[str, dict[str, ChannelUseCase]] = {}
    source_name: str = "<policy>"
    source_hash: str = ""  # sha256 of the file's bytes, recorded in policy_changed events


TOP_LEVEL: dict[str, type[BaseModel] | None] = {
    "admins": None,
    "groups": None,
    "defaults": Defaults,
    "use_cases": UseCase,
    "channels": ChannelUseCase,
}

# ---------------------------------------------------------------------------------------------
# Issues
# ---------------------------------------------------------------------------------------------

PathT = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class PolicyIssue:
    line: int | None  # 1-based; None when the problem is not in the text (unreadable file)
    path: str  # dotted key path, e.g. "use_cases.draft.approval.approvers"; "" for the file
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class PolicyError(Exception):
    """The policy file has one or more problems; `errors` lists them all, in line order."""

    def __init__(self, errors: list[PolicyIssue], source_name: str = "<policy>") -> None:
        self.errors = errors
        self.source_name = source_name
        lines = "\n".join(f"  {issue}" for issue in errors)
        super().__init__(f"{source_name}: {len(errors)} problem(s) in the policy:\n{lines}")


def dotted(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggest(word: object, options: Collection[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Issues:
    """Collects problems and finds the line for any key path."""

    def __init__(self, lines: dict[PathT, int]) -> None:
        self.lines = lines
        self.items: list[PolicyIssue] = []
        # Values that failed validation and were dropped: later checks that trip over their
        # absence would only repeat the same mistake in other words, so they stay quiet.
        self.broken: set[PathT] = set()

    def line_of(self, path: PathT) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def add(self, path: PathT, message: str) -> None:
        if any(path[:end] in self.broken for end in range(1, len(path) + 1)):
            return
        self.items.append(PolicyIssue(self.line_of(path), dotted(path), message))

    def sorted(self) -> list[PolicyIssue]:
        return sorted(set(self.items), key=lambda i: (i.line or 0, i.path, i.message))


# ---------------------------------------------------------------------------------------------
# YAML → plain data, remembering where every key was
# ---------------------------------------------------------------------------------------------


class _Composer:
    def __init__(self, issues: _Issues) -> None:
        self.issues = issues
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.active: set[int] = set()
        self.from_merge: set[PathT] = set()

    def to_python(self, node: yaml.Node, path: PathT) -> Any:
        if id(node) in self.active:  # &a [*a]: an alias inside itself would recurse forever
            self.issues.add(path, "recursive alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            return self.constructor.construct_object(node)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict[Any, Any]:
        written = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        # Resolves "<<: *anchor": merged pairs come first, then the ones written here.
        self.constructor.flatten_mapping(node)
        merged = len(node.value) - written
        out: dict[Any, Any] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.items.append(PolicyIssue(line, dotted(path), "keys must be plain text"))
                continue
            key = self.constructor.construct_object(key_node)
            if key in out and index >= merged and (*path, key) not in self.from_merge:
                first = self.issues.lines[(*path, key)]
                message = f"duplicate key (first given on line {first})"
                self.issues.items.append(PolicyIssue(line, dotted((*path, key)), message))
                continue
            if index < merged:
                self.from_merge.add((*path, key))  # a key written here may override it
            else:
                self.from_merge.discard((*path, key))
            self.issues.lines[(*path, key)] = line
            out[key] = self.to_python(value_node, (*path, key))
        return out

    def _sequence(self, node: yaml.SequenceNode, path: PathT) -> list[Any]:
        out: list[Any] = []
        for index, item in enumerate(node.value):
            self.issues.lines[(*path, index)] = item.start_mark.line + 1
            out.append(self.to_python(item, (*path, index)))
        return out


def _compose(text: str, issues: _Issues) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        issues.items.append(PolicyIssue(line, "", f"YAML syntax error: {problem}"))
        return None
    except yaml.YAMLError as exc:
        issues.items.append(PolicyIssue(None, "", f"YAML error: {exc}"))
        return None
    if node is None:
        return {}  # an empty file is an empty policy: everything off
    issues.lines[()] = node.start_mark.line + 1
    return _Composer(issues).to_python(node, ())


# ---------------------------------------------------------------------------------------------
# Structural validation (pydantic), with errors mapped back to lines
# ---------------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "bool_type": "true or false",
    "int_type": "a whole number",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}

_M = TypeVar("_M", bound=BaseModel)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0]
        else:
            return tp


def _model_at(root: type[BaseModel], loc: PathT) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (for "did you mean" suggestions)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _describe_error(root: type[BaseModel], loc: PathT, error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        options = list(model.model_fields) if model else []
        return f"unknown key '{loc[-1]}'{_suggest(loc[-1], options)}"
    if kind == "list_type" and isinstance(error["input"], str):
        return f"expected a list, got {error['input']!r} (write {json.dumps([error['input']])})"
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {error['input']!r}"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "greater_than_equal":
        return f"must be at least {error['ctx']['ge']}, got {error['input']!r}"
    return str(error["msg"])


def _error_locs(exc: ValidationError) -> list[tuple[PathT, Any]]:
    return [(tuple(p for p in e["loc"] if p != "[key]"), e) for e in exc.errors()]


def _prune(data: Any, loc: PathT) -> bool:
    """Delete the value at `loc` from nested dicts/lists; False when there is nothing to delete."""
    if not loc:
        return False
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        del parent[loc[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _validate(model: type[_M], data: Any, path: PathT, issues: _Issues) -> _M | None:
    """Validate one section, reporting every error; then salvage what is valid.

    The salvage (drop each bad value and validate again) lets the cross-reference checks still
    run on the rest of the section, so one typo does not hide an unknown group next to it.
    """
    data = copy.deepcopy({} if data is None else data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        failures = _error_locs(exc)
    for loc, error in failures:
        issues.add((*path, *loc), _describe_error(model, loc, error))
    issues.broken.update((*path, *loc) for loc, _ in failures)
    for _attempt in range(5):
        # Deepest and last first, so deleting one list item does not shift another's index.
        locs = sorted((loc for loc, _ in failures), reverse=True)
        if not any([_prune(data, loc) for loc in locs]):  # a list: prune them all, not just one
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            failures = _error_locs(exc)
    return None


def _as_mapping(data: Any, path: PathT, issues: _Issues) -> dict[Any, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        issues.add(path, f"expected a mapping of keys to values, got {data!r}")
        return {}
    return data


def _as_list(data: Any, path: PathT, issues: _Issues) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        issues.add(path, f"expected a list, got {data!r}")
        return []
    return data


def _checked(check: Callable[[Any], str], value: Any, path: PathT, issues: _Issues) -> str | None:
    try:
        return check(value)
    except ValueError as exc:
        issues.add(path, str(exc))
        return None


def _parse_admins(data: Any, issues: _Issues) -> list[str]:
    items = _as_list(data, ("admins",), issues)
    checked = (_checked(_user_id, v, ("admins", i), issues) for i, v in enumerate(items))
    return [v for v in checked if v is not None]


def _parse_groups(data: Any, issues: _Issues) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name, members in _as_mapping(data, ("groups",), issues).items():
        path: PathT = ("groups", name)
        if _checked(_name, name, path, issues) is None:
            continue
        items = _as_list(members, path, issues)
        checked = (_checked(_member, v, (*path, i), issues) for i, v in enumerate(items))
        # A group with a bad member keeps its good ones, so references to it stay valid.
        groups[name] = [v for v in checked if v is not None]
        if not items:
            issues.add(path, "group has no members, so nobody could approve for it")
    return groups


def _parse_use_cases(data: Any, issues: _Issues) -> tuple[dict[str, UseCase], set[str]]:
    """Valid use cases, plus every declared name (so a broken one is not also 'unknown')."""
    valid: dict[str, UseCase] = {}
    declared: set[str] = set()
    for name, body in _as_mapping(data, ("use_cases",), issues).items():
        if _checked(_name, name, ("use_cases", name), issues) is None:
            continue
        declared.add(name)
        use_case = _validate(UseCase, body, ("use_cases", name), issues)
        if use_case is not None:
            valid[name] = use_case
    return valid, declared


def _parse_channels(
    data: Any, declared: set[str], issues: _Issues
) -> dict[str, dict[str, ChannelUseCase]]:
    out: dict[str, dict[str, ChannelUseCase]] = {}
    for channel, body in _as_mapping(data, ("channels",), issues).items():
        path: PathT = ("channels", channel)
        if _checked(_channel_id, channel, path, issues) is None:
            continue
        out[channel] = {}
        for name, override in _as_mapping(body, path, issues).items():
            if name not in declared:
                issues.add((*path, name), f"unknown use case '{name}'{_suggest(name, declared)}")
                continue
            parsed = _validate(ChannelUseCase, override, (*path, name), issues)
            if parsed is not None:
                out[channel][name] = parsed
    return out


# ---------------------------------------------------------------------------------------------
# Cross-references: groups, use cases, model allowlists, timer order
# ---------------------------------------------------------------------------------------------


def _check_group(
    name: str | None, path: PathT, groups: dict[str, list[str]], issues: _Issues
) -> None:
    if name is not None and name not in groups:
        issues.add(path, f"unknown group '{name}'{_suggest(name, groups)}")


def _check_approval_groups(
    config: ApprovalConfig, path: PathT, groups: dict[str, list[str]], issues: _Issues
) -> None:
    _check_group(config.approvers, (*path, "approvers"), groups, issues)
    _check_group(config.escalate_to, (*path, "escalate_to"), groups, issues)
    for index, step in enumerate(config.chain or []):
        _check_group(step.to, (*path, "chain", index, "to"), groups, issues)


def _approval_shape_problems(config: ApprovalConfig) -> Iterator[tuple[PathT, str]]:
    """(key path, message) for an approval block (already merged) that cannot work as written."""
    if config.is_required and config.approvers is None:
        yield ("approvers",), "missing: approval is required, so name the approver group"
    if config.chain is not None and (config.escalate_to or config.escalate_after):
        yield ("chain",), "give either escalate_after/escalate_to or a chain, not both"
        return
    if config.escalate_after is not None and config.escalate_to is None:
        yield ("escalate_to",), "missing: escalate_after is set, so name the group to escalate to"
    if config.escalate_to is not None and config.escalate_after is None:
        yield ("escalate_after",), "missing: escalate_to is set, so say after how long"
    yield from _timer_problems(config)


def _timer_problems(config: ApprovalConfig) -> Iterator[tuple[PathT, str]]:
    previous = timedelta(0)
    for index, (_group, after) in enumerate(escalation_steps(config)):
        key: PathT = ("chain", index, "after") if config.chain is not None else ("escalate_after",)
        if after <= previous:
            what = "must be longer than 0s" if index == 0 else "must be later than the step before"
            yield key, f"{format_duration(after)} {what} (times count from submission)"
        previous = max(previous, after)
    expire = config.expire_after
    if expire is not None and expire <= timedelta(0):
        yield ("expire_after",), "must be longer than 0s"
    elif expire is not None and previous and expire <= previous:
        yield (
            ("expire_after",),
            (
                f"{format_duration(expire)} is not longer than the last escalation "
                f"({format_duration(previous)}), so the request would expire before it escalates"
            ),
        )


def _report_shape(config: ApprovalConfig, path: PathT, issues: _Issues) -> None:
    for key, message in _approval_shape_problems(config):
        issues.add((*path, *key), message)


def _allowlist(policy: Policy, use_case: UseCase | None) -> list[str] | None:
    if use_case is not None and use_case.allowed_models is not None:
        return use_case.allowed_models
    return policy.defaults.allowed_models


def _check_model(
    model: str | None, allowed: list[str] | None, path: PathT, issues: _Issues
) -> None:
    if model is not None and allowed is not None and model not in allowed:
        issues.add(path, f"model '{model}' is not in the allowed models ({', '.join(allowed)})")


def _check_use_case(policy: Policy, name: str, use_case: UseCase, issues: _Issues) -> None:
    path: PathT = ("use_cases", name)
    global_allow = policy.defaults.allowed_models
    if use_case.allowed_models is not None and global_allow is not None:
        for index, model in enumerate(use_case.allowed_models):
            if model not in global_allow:
                issues.add(
                    (*path, "allowed_models", index),
                    f"model '{model}' is not in defaults.allowed_models",
                )
    allowed = _allowlist(policy, use_case)
    if use_case.model is not None:
        _check_model(use_case.model, allowed, (*path, "model"), issues)
    elif allowed is not None and policy.defaults.model not in allowed:
        issues.add(
            (*path, "allowed_models"),
            f"the default model '{policy.defaults.model}' is not allowed here; set a model",
        )
    both = set(use_case.channels) & set(use_case.deny_channels)
    for channel in sorted(both):
        index = use_case.deny_channels.index(channel)
        issues.add((*path, "deny_channels", index), f"{channel} is also listed in channels")
    if use_case.approval is not None:
        _check_approval_groups(use_case.approval, (*path, "approval"), policy.groups, issues)
        _report_shape(use_case.approval, (*path, "approval"), issues)


def _check_override(
    policy: Policy, channel: str, name: str, override: ChannelUseCase, issues: _Issues
) -> None:
    path: PathT = ("channels", channel, name)
    use_case = policy.use_cases.get(name)
    if use_case is None:
        return  # the use case itself is broken and already reported
    if override.enabled and channel in use_case.deny_channels:
        issues.add(
            (*path, "enabled"),
            f"conflicts with use_cases.{name}.deny_channels, which lists {channel} (deny wins)",
        )
    _check_model(override.model, _allowlist(policy, use_case), (*path, "model"), issues)
    if override.approval is None:
        return
    _check_approval_groups(override.approval, (*path, "approval"), policy.groups, issues)
    base = use_case.approval
    # Problems the use case's own block already has were reported there; only new ones here.
    inherited = set(_approval_shape_problems(base)) if base is not None else set()
    for key, message in _approval_shape_problems(override.approval.under(base)):
        if (key, message) not in inherited:
            issues.add((*path, "approval", *key), message)


def _check_references(policy: Policy, issues: _Issues) -> None:
    _check_model(
        policy.defaults.model, policy.defaults.allowed_models, ("defaults", "model"), issues
    )
    for name, use_case in policy.use_cases.items():
        _check_use_case(policy, name, use_case, issues)
    for channel, overrides in policy.channels.items():
        for name, override in overrides.items():
            _check_override(policy, channel, name, override, issues)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _parse(text: str, source_name: str, source_hash: str) -> tuple[Policy, list[PolicyIssue]]:
    issues = _Issues({})
    data = _compose(text, issues)
    if issues.items:  # a syntax error: nothing below it can be trusted
        return Policy(source_name=source_name, source_hash=source_hash), issues.sorted()
    root = _as_mapping(data, (), issues)
    for key in root:
        if key not in TOP_LEVEL:
            issues.add((key,), f"unknown key '{key}'{_suggest(key, TOP_LEVEL)}")
    defaults = _validate(Defaults, root.get("defaults"), ("defaults",), issues)
    use_cases, declared = _parse_use_cases(root.get("use_cases"), issues)
    policy = Policy(
        admins=_parse_admins(root.get("admins"), issues),
        groups=_parse_groups(root.get("groups"), issues),
        defaults=defaults or Defaults(),
        use_cases=use_cases,
        channels=_parse_channels(root.get("channels"), declared, issues),
        source_name=source_name,
        source_hash=source_hash,
    )
    _check_references(policy, issues)
    return policy, issues.sorted()


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_policy_text(text: str, source_name: str = "<policy>") -> list[PolicyIssue]:
    """Every problem in a policy text, in line order; [] when it is valid."""
    return _parse(text, source_name, _hash(text.encode()))[1]


def load_policy_text(text: str, source_name: str = "<policy>") -> Policy:
    """Parse and validate policy YAML; raises PolicyError listing every problem."""
    policy, problems = _parse(text, source_name, _hash(text.encode()))
    if problems:
        raise PolicyError(problems, source_name)
    return policy


def _read(path: str | Path) -> tuple[str, bytes]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PolicyError(
            [PolicyIssue(None, "", f"cannot read {path}: {reason}")], str(path)
        ) from exc
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyIssue(None, "", f"{path} is not UTF-8 text")], str(path)) from exc


def load_policy(path: str | Path) -> Policy:
    """Load a policy file; raises PolicyError (every problem, with lines) if it is unusable."""
    text, data = _read(path)
    policy, problems = _parse(text, str(path), _hash(data))
    if problems:
        raise PolicyError(problems, str(path))
    return policy


def check_policy_file(path: str | Path) -> list[PolicyIssue]:
    """Every problem in a policy file ([] when valid); an unreadable file is one problem."""
    try:
        text, data = _read(path)
    except PolicyError as exc:
        return exc.errors
    return _parse(text, str(path), _hash(data))[1]


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The built-in policy used when there is no policy file (app/default_policy.yml)."""
    text = (
        resources.files("app.governance").joinpath("default_policy.yml").read_text(encoding="utf-8")
    )
    return load_policy_text(text, "<built-in default policy>")


def load_policy_or_default(path: str | Path | None) -> Policy:
    """STEWARD_POLICY semantics: the given file; else ./policy.yml if present; else the default.

    A path that was asked for explicitly must exist: silently falling back to the permissive
    default because of a typo in STEWARD_POLICY would be a governance hole.
    """
    if path is not None and str(path) != "":
        return load_policy(path)
    if Path("policy.yml").is_file():
        return load_policy("policy.yml")
    return default_policy()


@dataclass(frozen=True)
class CheckResult:
    """What `steward policy check` reports: the file checked, its problems, the policy if valid."""

    name: str
    problems: list[PolicyIssue]
    policy: Policy | None
    note: str = ""


def check_source(path: str | Path | None) -> CheckResult:
    """Check the policy `load_policy_or_default` would read: `path`, else ./policy.yml, else
    the built-in one (with a note saying there is no file)."""
    if (path is None or str(path) == "") and Path("policy.yml").is_file():
        path = "policy.yml"
    if path is None or str(path) == "":
        text = (
            resources.files("app.governance")
            .joinpath("default_policy.yml")
            .read_text(encoding="utf-8")
        )
        name = "<built-in default policy>"
        policy, problems = _parse(text, name, _hash(text.encode()))
        note = "no policy file (STEWARD_POLICY unset, no ./policy.yml): checked the built-in one"
        return CheckResult(name, problems, None if problems else policy, note)
    problems = check_policy_file(path)
    return CheckResult(str(path), problems, None if problems else load_policy(path))


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
