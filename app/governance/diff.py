"""Readable differences between two policies, for `policy_changed` audit events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from app.governance.durations import format_duration
from app.governance.policy_schema import ApprovalConfig, Policy, approval_rule


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, list | tuple):
        return ", ".join(_show(v) for v in value) if value else "(none)"
    return str(value)


def _flatten_rule(prefix: str, config: ApprovalConfig, out: dict[str, str]) -> None:
    rule = approval_rule(config)
    out[f"{prefix}.required"] = _show(rule is not None)
    if rule is None:
        return
    out[f"{prefix}.approvers"] = rule.approvers
    escalation = [f"{s.group} after {format_duration(s.after)}" for s in rule.steps[1:]]
    out[f"{prefix}.escalation"] = _show(escalation)
    out[f"{prefix}.expire_after"] = _show(rule.expire_after)
    out[f"{prefix}.channel"] = rule.channel or "(draft's own channel)"


def _flatten_layer(prefix: str, layer: BaseModel, out: dict[str, str]) -> None:
    for key in type(layer).model_fields:
        value = getattr(layer, key)
        if value is None:
            continue
        if isinstance(value, ApprovalConfig):
            _flatten_rule(f"{prefix}.approval", value, out)
        elif isinstance(value, BaseModel):
            _flatten_layer(f"{prefix}.{key}", value, out)
        else:
            out[f"{prefix}.{key}"] = _show(value)


def _flatten(policy: Policy) -> dict[str, str]:
    """Each effective setting as "dotted.path" → text, so comments and layout never show."""
    out: dict[str, str] = {
        "admins": _show(sorted(policy.admins)),
        "auditors": _show(sorted(policy.auditors)),
    }
    for name, members in policy.groups.items():
        out[f"groups.{name}"] = _show(sorted(members))
    _flatten_layer("defaults", policy.defaults, out)
    for name, use_case in policy.use_cases.items():
        _flatten_layer(f"use_cases.{name}", use_case, out)
    for channel, overrides in policy.channels.items():
        for name, override in overrides.items():
            _flatten_layer(f"channels.{channel}.{name}", override, out)
    return out


def diff(old: Policy, new: Policy) -> list[str]:
    """Readable effective changes, e.g. "use_cases.draft.approval.approvers: managers → legal"."""
    before, after = _flatten(old), _flatten(new)
    lines: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        if was is None:
            lines.append(f"{key}: added ({now})")
        elif now is None:
            lines.append(f"{key}: removed (was {was})")
        else:
            lines.append(f"{key}: {was} → {now}")
    return lines
