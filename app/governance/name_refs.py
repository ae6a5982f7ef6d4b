"""A name written in the policy where an ID could be (`#launch`, `@priya`, `@legal-team`), and
where: what app/governance/policy_names.py finds in a parsed policy and replaces with IDs.

A leaf module, so the schema can carry the names a policy was written with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# Slack channel names: lower-case letters, digits, `-`, `_` (and `.`, and letters of other
# scripts), at most 80 characters; `#` marks one in the policy.
CHANNEL_NAME = re.compile(r"#[\w][\w.-]{0,79}")

# What the name stands for where it is written:
# - channel: a channel (`channels`, `deny_channels`, override keys, `approval.channel`...);
# - member: someone in `users` / `deny_users` / a group: a user-group handle stays a handle
#   (its members are looked up per request), a user becomes their ID;
# - person: `admins` / `auditors`: a user becomes their ID, a user group its members at load
#   (a role is known without asking Slack per click).
Role = Literal["channel", "member", "person"]


@dataclass(frozen=True)
class NameRef:
    name: str  # as written, e.g. "#launch"
    path: str  # dotted key path, e.g. "use_cases.draft.channels[1]"
    line: int | None
    role: Role

    @property
    def key(self) -> str:
        """Names compare case-insensitively, as Slack's do."""
        return self.name.lower()
