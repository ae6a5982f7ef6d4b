"""Names in a policy: finding the `#channel` / `@name` entries of a parsed policy (with their
lines) and rewriting the policy with the IDs Slack gave for them. Pure; asking Slack is
app/governance/name_lookup.py.

What each name becomes depends on where it is written (`name_refs.Role`):
- `#launch` (anywhere a channel ID is accepted) → the channel's ID;
- `@name` in `users` / `deny_users` / `groups` → a user's ID, or, when a user group has that
  handle, the handle itself: a group's members are looked up per request, as before names
  existed (so someone added to `@legal-team` in Slack counts within a minute, not at reload);
- `@name` in `admins` / `auditors` → a user's ID, or a user group's members as they are at
  load (a role is then decided without asking Slack on every click; reload to refresh).
A handle that is both a user group's and a person's name means the group.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from app.governance.name_refs import NameRef, Role
from app.governance.policy_issues import Issues, PathT, PolicyIssue, dotted
from app.governance.policy_schema import ApprovalConfig, ChannelUseCase, Policy, UseCase

Found = tuple[PathT, str, Role]


@dataclass(frozen=True)
class Resolved:
    """What Slack says a name is: a channel, a user or a user group (with its members)."""

    kind: Literal["channel", "user", "group"]
    id: str
    members: tuple[str, ...] = ()


def _is_name(value: str | None, role: Role) -> bool:
    if not value:
        return False
    return value.startswith("#") if role == "channel" else value.startswith("@")


def _layer(layer: UseCase | ChannelUseCase, path: PathT) -> Iterator[Found]:
    if isinstance(layer, UseCase):
        for key in ("channels", "deny_channels"):
            for i, value in enumerate(getattr(layer, key)):
                if _is_name(value, "channel"):
                    yield (*path, key, i), value, "channel"
    for key in ("users", "deny_users"):
        for i, value in enumerate(getattr(layer, key) or []):
            if _is_name(value, "member"):
                yield (*path, key, i), value, "member"
    if layer.approval is not None and _is_name(layer.approval.channel, "channel"):
        yield (*path, "approval", "channel"), str(layer.approval.channel), "channel"


def _found(policy: Policy) -> Iterator[Found]:
    for key in ("admins", "auditors"):
        for i, value in enumerate(getattr(policy, key)):
            if _is_name(value, "person"):
                yield (key, i), value, "person"
    for group, members in policy.groups.items():
        for i, value in enumerate(members):
            if _is_name(value, "member"):
                yield ("groups", group, i), value, "member"
    for name, use_case in policy.use_cases.items():
        yield from _layer(use_case, ("use_cases", name))
    for channel, overrides in policy.channels.items():
        if _is_name(channel, "channel"):
            yield ("channels", channel), channel, "channel"
        for name, override in overrides.items():
            yield from _layer(override, ("channels", channel, name))
    if _is_name(policy.audit.checkpoint_channel, "channel"):
        yield ("audit", "checkpoint_channel"), str(policy.audit.checkpoint_channel), "channel"


def find(policy: Policy, issues: Issues) -> tuple[NameRef, ...]:
    """Every name in `policy`, with the line `issues` knows for it."""
    return tuple(
        NameRef(value, dotted(path), issues.line_of(path), role)
        for path, value, role in _found(policy)
    )


# ---------------------------------------------------------------------------------------------
# Rewriting with IDs
# ---------------------------------------------------------------------------------------------


class _Rewrite:
    def __init__(self, policy: Policy, resolved: Mapping[str, Resolved]) -> None:
        self.resolved = resolved
        self.lines = {ref.path: ref.line for ref in policy.names}
        self.issues: list[PolicyIssue] = []

    def channel(self, value: str) -> str:
        found = self.resolved.get(value.lower()) if value.startswith("#") else None
        return found.id if found is not None else value

    def members(self, values: list[str]) -> list[str]:
        out = []
        for value in values:
            found = self.resolved.get(value.lower()) if value.startswith("@") else None
            out.append(found.id if found is not None and found.kind == "user" else value)
        return list(dict.fromkeys(out))

    def people(self, values: list[str]) -> list[str]:
        out: list[str] = []
        for value in values:
            found = self.resolved.get(value.lower()) if value.startswith("@") else None
            if found is None:
                out.append(value)
            elif found.kind == "group":
                out += found.members
            else:
                out.append(found.id)
        return list(dict.fromkeys(out))

    def approval(self, config: ApprovalConfig | None) -> ApprovalConfig | None:
        if config is None or config.channel is None:
            return config
        return config.model_copy(update={"channel": self.channel(config.channel)})

    def use_case(self, layer: UseCase) -> UseCase:
        return layer.model_copy(
            update={
                "channels": list(dict.fromkeys(self.channel(c) for c in layer.channels)),
                "deny_channels": list(dict.fromkeys(self.channel(c) for c in layer.deny_channels)),
                "users": None if layer.users is None else self.members(layer.users),
                "deny_users": self.members(layer.deny_users),
                "approval": self.approval(layer.approval),
            }
        )

    def override(self, layer: ChannelUseCase) -> ChannelUseCase:
        return layer.model_copy(
            update={
                "users": None if layer.users is None else self.members(layer.users),
                "deny_users": self.members(layer.deny_users),
                "approval": self.approval(layer.approval),
            }
        )

    def overrides(self, policy: Policy) -> dict[str, dict[str, ChannelUseCase]]:
        out: dict[str, dict[str, ChannelUseCase]] = {}
        written: dict[str, str] = {}
        for key, layers in policy.channels.items():
            channel = self.channel(key)
            if channel in out:  # `#launch:` and `C0LAUNCH:` are the same channel
                first = written[channel]
                self.issues.append(
                    PolicyIssue(
                        self.lines.get(f"channels.{key}"),
                        f"channels.{key}",
                        f"is {channel}, which channels.{first} already sets; merge the two",
                    )
                )
                continue
            written[channel] = key
            out[channel] = {name: self.override(layer) for name, layer in layers.items()}
        return out


def rewrite(policy: Policy, resolved: Mapping[str, Resolved]) -> tuple[Policy, list[PolicyIssue]]:
    """`policy` with every name replaced as `resolved` (keyed by the lower-cased name) says,
    and what that makes wrong (two overrides for one channel)."""
    job = _Rewrite(policy, resolved)
    checkpoint = policy.audit.checkpoint_channel
    new = policy.model_copy(
        update={
            "admins": job.people(policy.admins),
            "auditors": job.people(policy.auditors),
            "groups": {name: job.members(members) for name, members in policy.groups.items()},
            "use_cases": {name: job.use_case(uc) for name, uc in policy.use_cases.items()},
            "channels": job.overrides(policy),
            "audit": policy.audit.model_copy(
                update={"checkpoint_channel": job.channel(checkpoint) if checkpoint else None}
            ),
            "names": (),
        }
    )
    return new, job.issues
