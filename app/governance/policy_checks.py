"""Checking a policy file's data: each section validated by its pydantic model with every error
mapped back to a line (and what is valid salvaged), then the references between sections
(groups, use cases, model allowlists, timer order) checked by hand.

`parse(data, issues)` is the whole check; the loaders in app/governance/policy.py call it.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.governance import policy_schema as schema
from app.governance.durations import format_duration
from app.governance.policy_issues import Issues, PathT, suggest
from app.governance.policy_schema import (
    TOP_LEVEL,
    ApprovalConfig,
    AuditSettings,
    ChannelUseCase,
    Defaults,
    Policy,
    UseCase,
    escalation_steps,
)

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
        return f"unknown key '{loc[-1]}'{suggest(loc[-1], options)}"
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


def _validate(model: type[_M], data: Any, path: PathT, issues: Issues) -> _M | None:
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


def _as_mapping(data: Any, path: PathT, issues: Issues) -> dict[Any, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        issues.add(path, f"expected a mapping of keys to values, got {data!r}")
        return {}
    return data


def _as_list(data: Any, path: PathT, issues: Issues) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        issues.add(path, f"expected a list, got {data!r}")
        return []
    return data


def _checked(check: Callable[[Any], str], value: Any, path: PathT, issues: Issues) -> str | None:
    try:
        return check(value)
    except ValueError as exc:
        issues.add(path, str(exc))
        return None


def _parse_people(key: str, data: Any, issues: Issues) -> list[str]:
    """`admins` / `auditors`: user IDs, or `@names` resolved at load (so a role never waits
    on Slack to be known)."""
    items = _as_list(data, (key,), issues)
    checked = (_checked(schema.person, v, (key, i), issues) for i, v in enumerate(items))
    return [v for v in checked if v is not None]


def _parse_groups(data: Any, issues: Issues) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name, members in _as_mapping(data, ("groups",), issues).items():
        path: PathT = ("groups", name)
        if _checked(schema.name, name, path, issues) is None:
            continue
        items = _as_list(members, path, issues)
        checked = (_checked(schema.member, v, (*path, i), issues) for i, v in enumerate(items))
        # A group with a bad member keeps its good ones, so references to it stay valid.
        groups[name] = [v for v in checked if v is not None]
        if not items:
            issues.add(path, "group has no members, so nobody could approve for it")
    return groups


# The use cases Steward has (app/summaries, app/drafts, app/ask); a policy may name no other.
USE_CASES = ("summarize", "draft", "ask")


def _parse_use_cases(data: Any, issues: Issues) -> tuple[dict[str, UseCase], set[str]]:
    """Valid use cases, plus every declared name (so a broken one is not also 'unknown')."""
    valid: dict[str, UseCase] = {}
    declared: set[str] = set()
    for name, body in _as_mapping(data, ("use_cases",), issues).items():
        if _checked(schema.name, name, ("use_cases", name), issues) is None:
            continue
        if name not in USE_CASES:  # `summarise:` would otherwise silently turn summaries off
            issues.add(
                ("use_cases", name),
                f"unknown use case '{name}'{suggest(name, USE_CASES)}; Steward's use cases are "
                + ", ".join(USE_CASES),
            )
            continue
        declared.add(name)
        use_case = _validate(UseCase, body, ("use_cases", name), issues)
        if use_case is not None:
            valid[name] = use_case
    return valid, declared


def _parse_channels(
    data: Any, declared: set[str], issues: Issues
) -> dict[str, dict[str, ChannelUseCase]]:
    out: dict[str, dict[str, ChannelUseCase]] = {}
    for channel, body in _as_mapping(data, ("channels",), issues).items():
        path: PathT = ("channels", channel)
        if _checked(schema.channel_id, channel, path, issues) is None:
            continue
        out[channel] = {}
        for name, override in _as_mapping(body, path, issues).items():
            if name not in declared:
                issues.add((*path, name), f"unknown use case '{name}'{suggest(name, declared)}")
                continue
            parsed = _validate(ChannelUseCase, override, (*path, name), issues)
            if parsed is not None:
                out[channel][name] = parsed
    return out


# ---------------------------------------------------------------------------------------------
# Cross-references: groups, use cases, model allowlists, timer order
# ---------------------------------------------------------------------------------------------


def _check_group(
    name: str | None, path: PathT, groups: dict[str, list[str]], issues: Issues
) -> None:
    if name is not None and name not in groups:
        issues.add(path, f"unknown group '{name}'{suggest(name, groups)}")


def _check_audience(
    layer: UseCase | ChannelUseCase, path: PathT, groups: dict[str, list[str]], issues: Issues
) -> None:
    """Bare names in `users` / `deny_users` are policy groups, so they must exist: a typo
    would otherwise silently shrink (or fail to deny) an audience."""
    for key in ("users", "deny_users"):
        for index, entry in enumerate(getattr(layer, key) or []):
            if schema.NAME.fullmatch(entry):
                _check_group(entry, (*path, key, index), groups, issues)


def _check_approval_groups(
    config: ApprovalConfig, path: PathT, groups: dict[str, list[str]], issues: Issues
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


def _report_shape(config: ApprovalConfig, path: PathT, issues: Issues) -> None:
    for key, message in _approval_shape_problems(config):
        issues.add((*path, *key), message)


def _allowlist(policy: Policy, use_case: UseCase | None) -> list[str] | None:
    if use_case is not None and use_case.allowed_models is not None:
        return use_case.allowed_models
    return policy.defaults.allowed_models


def _check_model(model: str | None, allowed: list[str] | None, path: PathT, issues: Issues) -> None:
    if model is not None and allowed is not None and model not in allowed:
        issues.add(path, f"model '{model}' is not in the allowed models ({', '.join(allowed)})")


def _check_use_case(policy: Policy, name: str, use_case: UseCase, issues: Issues) -> None:
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
    _check_audience(use_case, path, policy.groups, issues)
    both = set(use_case.channels) & set(use_case.deny_channels)
    for channel in sorted(both):
        index = use_case.deny_channels.index(channel)
        issues.add((*path, "deny_channels", index), f"{channel} is also listed in channels")
    if use_case.approval is not None:
        _check_approval_groups(use_case.approval, (*path, "approval"), policy.groups, issues)
        _report_shape(use_case.approval, (*path, "approval"), issues)


def _check_override(
    policy: Policy, channel: str, name: str, override: ChannelUseCase, issues: Issues
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
    _check_audience(override, path, policy.groups, issues)
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


def _check_references(policy: Policy, issues: Issues) -> None:
    _check_model(
        policy.defaults.model, policy.defaults.allowed_models, ("defaults", "model"), issues
    )
    for name, use_case in policy.use_cases.items():
        _check_use_case(policy, name, use_case, issues)
    for channel, overrides in policy.channels.items():
        for name, override in overrides.items():
            _check_override(policy, channel, name, override, issues)


# ---------------------------------------------------------------------------------------------
# The whole check
# ---------------------------------------------------------------------------------------------


def parse_sections(data: Any, issues: Issues, source_name: str, source_hash: str) -> Policy:
    """The policy in `data` (composed YAML), every problem added to `issues`; what is valid is
    kept, so one mistake does not hide the next."""
    root = _as_mapping(data, (), issues)
    for key in root:
        if key not in TOP_LEVEL:
            issues.add((key,), f"unknown key '{key}'{suggest(key, TOP_LEVEL)}")
    defaults = _validate(Defaults, root.get("defaults"), ("defaults",), issues)
    use_cases, declared = _parse_use_cases(root.get("use_cases"), issues)
    audit = _validate(AuditSettings, root.get("audit"), ("audit",), issues)
    policy = Policy(
        admins=_parse_people("admins", root.get("admins"), issues),
        auditors=_parse_people("auditors", root.get("auditors"), issues),
        groups=_parse_groups(root.get("groups"), issues),
        defaults=defaults or Defaults(),
        use_cases=use_cases,
        channels=_parse_channels(root.get("channels"), declared, issues),
        audit=audit or AuditSettings(),
        source_name=source_name,
        source_hash=source_hash,
    )
    _check_references(policy, issues)
    return policy
