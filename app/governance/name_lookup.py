"""Resolving a policy's names through Slack: `#launch` → its channel ID, `@priya` → her user ID,
`@legal-team` → a user group (app/governance/policy_names.py says what each becomes where).

- Once per policy version: the answer is cached in Redis under the file's hash
  (`steward:policy:names:<hash>`), so every process serving that version uses the same IDs and
  Slack is asked once, not per request. A reload resolves afresh (`fresh=True`), which is how a
  channel renamed in Slack is picked up: the next policy version sees the new names.
- A name Slack does not know is a `PolicyIssue` naming the name and its line, like any other
  mistake in the file; a policy with one is not used (at reload the running one stays).
- Slack unreachable is a `SlackError`, never a guess: the caller retries (a job, a reload poll).
- Only the lists a policy needs are read: no `#` names, no conversations.list; every `@name`
  a user group, no users.list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import redis.asyncio as aioredis

from app.governance import keys
from app.governance.name_refs import NameRef
from app.governance.policy_issues import PolicyError, PolicyIssue
from app.governance.policy_names import Resolved, rewrite
from app.governance.policy_schema import Policy
from app.runtime.services import Services
from app.slack import directory
from app.slack.port import SlackError, SlackPort

log = logging.getLogger(__name__)

CACHE_TTL_SECONDS = 7 * 86400


async def lookup(slack: SlackPort, refs: Iterable[NameRef]) -> dict[str, Resolved | str]:
    """Each name (lower-cased) → what it is, or why it is nothing (a message for the file)."""
    refs = list(refs)
    channels = {r.key for r in refs if r.role == "channel"}
    people = {r.key for r in refs if r.role != "channel"}
    out: dict[str, Resolved | str] = {}
    if channels:
        found = await directory.channels(slack)
        for name in channels:
            channel_id = found.get(name[1:])
            out[name] = (
                Resolved("channel", channel_id)
                if channel_id
                else f"'{name}' is not a channel Steward can see in this workspace (a private "
                "channel must have Steward in it); `steward ids` lists the names it knows"
            )
    if people:
        groups = await directory.usergroups(slack)
        for name in people & {f"@{h}" for h in groups}:
            group = groups[name[1:]]
            out[name] = Resolved("group", group.id, group.members)
        rest = people - set(out)
        if rest:
            users = await directory.users(slack)
            for name in rest:
                user_id = users.by_name.get(name[1:])
                if user_id:
                    out[name] = Resolved("user", user_id)
                elif name[1:] in users.shared:
                    out[name] = f"'{name}' is the display name of several people; use a user ID"
                else:
                    out[name] = f"'{name}' is neither a user group handle nor a person here"
    return out


def apply(policy: Policy, found: dict[str, Resolved | str]) -> Policy:
    """`policy` with its names replaced; PolicyError (with lines) when any resolves to nothing."""
    problems = [
        PolicyIssue(ref.line, ref.path, answer)
        for ref in policy.names
        if isinstance(answer := found.get(ref.key, f"'{ref.name}' was not looked up"), str)
    ]
    resolved = {name: r for name, r in found.items() if isinstance(r, Resolved)}
    if not problems:
        new, problems = rewrite(policy, resolved)
        if not problems:
            return new
    raise PolicyError(
        sorted(set(problems), key=lambda i: (i.line or 0, i.path)), policy.source_name
    )


def _dump(found: dict[str, Resolved | str]) -> str:
    return json.dumps(
        {
            name: r if isinstance(r, str) else {"kind": r.kind, "id": r.id, "members": r.members}
            for name, r in found.items()
        }
    )


def _load(raw: str) -> dict[str, Resolved | str]:
    data = json.loads(raw)
    return {
        name: r if isinstance(r, str) else Resolved(r["kind"], r["id"], tuple(r["members"]))
        for name, r in data.items()
    }


async def resolve(
    slack: SlackPort, redis: aioredis.Redis | None, policy: Policy, *, fresh: bool = False
) -> Policy:
    """`policy` with IDs for its names (itself when it has none). Raises PolicyError when a name
    resolves to nothing, SlackError when Slack cannot say."""
    if not policy.names:
        return policy
    key = keys.policy_names(policy.source_hash)
    cached = None if fresh or redis is None else await redis.get(key)
    if cached is not None:
        found = _load(str(cached))
    else:
        found = await lookup(slack, policy.names)
        if redis is not None:
            await redis.set(key, _dump(found), ex=CACHE_TTL_SECONDS)
        log.info("policy names resolved", extra={"names": len(found)})
    return apply(policy, found)


async def ensure_resolved(services: Services) -> SlackError | PolicyError | None:
    """Before a job reads the policy: if the one in force still has names (it was loaded at
    start, without Slack), put the resolved one in its place. Returns why it could not (and
    leaves the policy as it is, which `gate.decide` refuses to apply, so nothing is let in on a
    guess): Slack unreachable (tried again by the next job) or a name Slack does not know.
    Concurrent callers may both resolve; the answer is the same (cached) and the first swap
    wins."""
    policy = services.policy
    if not policy.names:
        return None
    try:
        resolved = await resolve(services.slack, services.redis, policy)
    except PolicyError as exc:
        log.error("policy names do not resolve", extra={"problems": len(exc.errors)})
        return exc
    except SlackError as exc:
        log.warning("policy names could not be resolved", extra={"code": exc.code})
        return exc
    if services.policy is policy:
        services.policy = resolved
    return None
