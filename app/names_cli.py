"""The command line's name tools: `steward policy check --resolve` (the policy's `#channel` and
`@name` entries checked against Slack, every miss with its line) and `steward ids` (IDs for
people writing a policy). Both read Slack with the bot token (`SLACK_BOT_TOKEN`,
`SLACK_API_URL`), through the same directory reads the running app uses
(app/slack/directory.py), so what they say is what a reload will find.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from app.governance import name_lookup
from app.governance.name_refs import NameRef
from app.governance.policy_issues import PolicyError, PolicyIssue
from app.governance.policy_names import Resolved
from app.governance.policy_schema import Policy
from app.runtime.settings import ConfigError, Settings
from app.slack import directory
from app.slack.port import SlackError, SlackPort, web_client


def _port(settings: Settings) -> SlackPort:
    settings.require("SLACK_BOT_TOKEN")
    return SlackPort(web_client(settings.secret("SLACK_BOT_TOKEN"), settings.slack_api_url))


def _slack_problem(exc: SlackError) -> PolicyIssue:
    hint = exc.missing_scope_hint or "check SLACK_BOT_TOKEN and SLACK_API_URL"
    return PolicyIssue(None, "", f"could not ask Slack for the names ({exc}): {hint}")


async def _resolve(settings: Settings, policy: Policy) -> list[PolicyIssue]:
    port = _port(settings)
    try:
        await name_lookup.resolve(port, None, policy, fresh=True)
    except PolicyError as exc:
        return exc.errors
    except SlackError as exc:
        return [_slack_problem(exc)]
    finally:
        await port.close()
    return []


def resolve_problems(settings: Settings, policy: Policy) -> list[PolicyIssue]:
    """The policy's names that Slack cannot resolve (with lines); [] when all resolve."""
    if not policy.names:
        return []
    return asyncio.run(_resolve(settings, policy))


def startup_problem(settings: Settings, policy: Policy) -> str | None:
    """At start: ConfigError when a name resolves to nothing (the file is wrong, as with any
    other mistake in it); a warning (returned) when Slack cannot be asked now, since the
    running app resolves the names before its first job anyway, and retries."""
    problems = resolve_problems(settings, policy)
    if any(p.line is not None for p in problems):
        listed = "; ".join(str(p) for p in problems[:20])
        raise ConfigError(f"STEWARD_POLICY names what Slack does not know: {listed}")
    return str(problems[0]) if problems else None


# ---------------------------------------------------------------------------------------------
# steward ids
# ---------------------------------------------------------------------------------------------


def _refs(names: Sequence[str]) -> list[NameRef]:
    return [
        NameRef(name, "", None, "channel" if name.startswith("#") else "member") for name in names
    ]


async def _everything(port: SlackPort) -> list[str]:
    channels = await directory.channels(port)
    groups = await directory.usergroups(port)
    people = await directory.users(port)
    rows = [f"{cid}\t#{name}" for name, cid in sorted(channels.items())]
    rows += [f"{g.id}\t@{handle}" for handle, g in sorted(groups.items())]
    rows += [f"{uid}\t@{name}" for name, uid in sorted(people.by_name.items())]
    return rows


async def _ids(settings: Settings, names: Sequence[str]) -> int:
    port = _port(settings)
    try:
        if not names:
            for row in await _everything(port):
                print(row)
            return 0
        found = await name_lookup.lookup(port, _refs(names))
    except SlackError as exc:
        print(f"steward: {_slack_problem(exc)}", file=sys.stderr)
        return 2
    finally:
        await port.close()
    status = 0
    for name in names:
        answer = found.get(name.lower())
        if isinstance(answer, Resolved):
            print(f"{answer.id}\t{name}")
        else:
            print(f"steward: {answer}", file=sys.stderr)
            status = 1
    return status


def run_ids(settings: Settings, names: Sequence[str]) -> int:
    """`steward ids [#channel|@user|@group …]`: one `ID<TAB>name` line per name (all of the
    workspace's when none is given); exit 1 when a name is unknown, 2 when Slack cannot say."""
    bad = [n for n in names if not n.startswith(("#", "@")) or len(n) < 2]
    if bad:
        print(
            f"steward: {bad[0]!r}: write a channel as #name and a person or group as @name",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_ids(settings, names))
