"""Who may use a use case: the `users` / `deny_users` lists of a use case and of a channel
override, applied to one person (pure; the Slack user groups they are in are looked up by the
caller, app/governance/gate.py, and passed in as handles).

An entry is a user ID (`U…`/`W…`), a Slack user-group handle (`@eng-managers`) or the name of a
policy group (`managers`, itself user IDs and handles). The decisions that are not obvious:

- Deny wins: a person matched by `deny_users` in the use case or in the channel's override is
  refused whatever any `users` list says, and a granted request cannot undo it either.
- `users` absent means everyone. A channel override's `users` replaces the use case's in that
  channel (it is the more specific answer to "who, here?"); `deny_users` add up.
- An empty `users: []` lets nobody in: the file said "nobody", not "everyone".
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from app.governance.policy_schema import ChannelUseCase, Policy, UseCase
from app.slack.mrkdwn import escape


@dataclass(frozen=True)
class Verdict:
    """Whether the person is in the use case's audience here, and the list that said so."""

    allowed: bool
    rule: str  # "" when no list applies (everyone may); else the dotted path of the list
    reason: str = ""  # for the person, when refused


def _layers(
    policy: Policy, use_case: str, channel_id: str
) -> tuple[UseCase | None, ChannelUseCase | None]:
    return policy.use_cases.get(use_case), policy.channels.get(channel_id, {}).get(use_case)


def _expand(policy: Policy, entries: Collection[str]) -> Iterator[str]:
    """User IDs and handles, with policy group names replaced by their members."""
    for entry in entries:
        if entry in policy.groups:
            yield from policy.groups[entry]
        else:
            yield entry


def handles_needed(policy: Policy, use_case: str, channel_id: str) -> list[str]:
    """The user-group handles whose members decide `use_case` in `channel_id`, each once."""
    config, override = _layers(policy, use_case, channel_id)
    entries: list[str] = []
    for layer in (config, override):
        if layer is not None:
            entries += [*(layer.users or []), *layer.deny_users]
    return handles_in(policy, entries)


def handles_in(policy: Policy, entries: Collection[str]) -> list[str]:
    """The user-group handles among `entries` (policy groups expanded), each once."""
    handles = (e.lower() for e in _expand(policy, entries) if e.startswith("@"))
    return list(dict.fromkeys(handles))


def _matches(policy: Policy, entries: Collection[str], user_id: str, handles: set[str]) -> bool:
    return any(entry == user_id or entry.lower() in handles for entry in _expand(policy, entries))


def is_in(policy: Policy, entry: str, user_id: str, user_handles: Collection[str]) -> bool:
    """Whether the person is `entry` (a user ID), in it (a handle) or in its members (a group)."""
    return _matches(policy, [entry], user_id, {h.lower() for h in user_handles})


def shown(entries: list[str]) -> str:
    """`@eng-managers and 2 others`: enough to know whom to ask, short enough for one line."""
    if not entries:
        return "nobody"
    first = entries[0]
    name = f"<@{first}>" if first[:1] in "UW" and first.isupper() else escape(first)
    rest = len(entries) - 1
    return name if rest == 0 else f"{name} and {rest} other{'s' if rest > 1 else ''}"


def verdict(
    policy: Policy,
    user_id: str,
    use_case: str,
    channel_id: str,
    user_handles: Collection[str] = (),
) -> Verdict:
    """Whether `user_id` (a member of the user groups `user_handles`) is in the audience of
    `use_case` in `channel_id`."""
    config, override = _layers(policy, use_case, channel_id)
    handles = {h.lower() for h in user_handles}
    denying = [
        (f"use_cases.{use_case}.deny_users", config),
        (f"channels.{channel_id}.{use_case}.deny_users", override),
    ]
    for rule, layer in denying:
        if layer is not None and _matches(policy, layer.deny_users, user_id, handles):
            reason = f"You may not use '{use_case}': the policy excludes you ({rule})."
            return Verdict(False, rule, reason)
    if override is not None and override.users is not None:
        rule, allowed = f"channels.{channel_id}.{use_case}.users", override.users
    elif config is not None and config.users is not None:
        rule, allowed = f"use_cases.{use_case}.users", config.users
    else:
        return Verdict(True, "")
    if _matches(policy, allowed, user_id, handles):
        return Verdict(True, rule)
    reason = (
        f"'{use_case}' in <#{channel_id}> is limited to {shown(allowed)} by the policy ({rule})."
    )
    return Verdict(False, rule, reason)
