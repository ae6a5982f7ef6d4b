"""Every Redis key (and pub/sub channel) the governance package writes, built here and only here.

A leaf module: what each key holds and for how long is said by the module that uses it
(budget, grants, pause, requests, watch, approvers).
"""

from __future__ import annotations

from datetime import date

# Grants: hash, field `<use case>:<channel ID>[:<audience>]` -> JSON StoredGrant (grants.py).
GRANTS = "steward:grants"

# The pause switch: its state, and the pub/sub channel that announces changes (pause.py).
PAUSE_STATE = "steward:pause:state"
PAUSE_CHANNEL = "steward:pause"

# Hot reload: the policy last recorded in a policy_changed event (watch.py).
POLICY_CURRENT = "steward:policy:current"


def model_eval(model: str, prompt_version: str) -> str:
    """The last `steward eval` of a model under one prompt version: JSON EvalRecord, no expiry
    (model_evidence.py; the `model_evaluated` audit event is the record, this its index)."""
    return f"steward:eval:last:{model}:{prompt_version}"


def model_eval_latest(model: str) -> str:
    """The last `steward eval` of a model under any prompt version (App Home shows it)."""
    return f"steward:eval:latest:{model}"


def policy_names(file_hash: str) -> str:
    """What the names of one policy version resolved to in Slack (name_lookup.py)."""
    return f"steward:policy:names:{file_hash}"


def policy_reported_bad(file_hash: str) -> str:
    """Marker: the admins were told about this bad policy file already (watch.py)."""
    return f"steward:policy:bad:{file_hash}"


# Budgets (budget.py). The `{team}` hash tag keeps one team's keys in one cluster slot, which a
# multi-key Lua script needs on Redis Cluster.


def user_tokens(team_id: str, user_id: str, day: date) -> str:
    return f"steward:budget:{{{team_id}}}:user:{user_id}:tokens:{day.isoformat()}"


def team_tokens(team_id: str, day: date) -> str:
    return f"steward:budget:{{{team_id}}}:team:tokens:{day.isoformat()}"


def user_requests(team_id: str, user_id: str) -> str:
    return f"steward:budget:{{{team_id}}}:user:{user_id}:requests"


def settled(team_id: str, reservation_id: str) -> str:
    return f"steward:budget:{{{team_id}}}:settled:{reservation_id}"


def user_in_flight(team_id: str, user_id: str) -> str:
    return f"steward:budget:{{{team_id}}}:user:{user_id}:in-flight"


# Use-case requests (requests.py).


def use_case_request(request_id: str) -> str:
    return f"steward:ucr:{request_id}"


def use_case_request_decision(request_id: str) -> str:
    return f"steward:ucr:{request_id}:decision"


def open_use_case_request(use_case: str, channel_id: str, audience: str | None = None) -> str:
    return f"steward:ucr:pending:{use_case}:{channel_id}" + (f":{audience}" if audience else "")


# Approver groups (approvers.py).


def usergroup_members(handle: str) -> str:
    """A Slack user group's members, cached briefly; handles are case-insensitive."""
    return f"steward:usergroup:{handle.lower()}"
