"""`steward doctor`: is this deployment ready for a real workspace and a real model?

Each check asks the real thing — Slack with the real token, the model endpoint with one tiny
request, Redis's own configuration — and says ok, warning or error, with the fix. Exit status:
0 all ok, 1 warnings only, 2 any error. No secret is ever printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import redis.asyncio as aioredis
from slack_sdk.errors import SlackApiError, SlackClientError

from app.governance.policy import load_policy_or_default
from app.governance.policy_issues import PolicyError
from app.governance.policy_schema import Policy
from app.runtime.settings import Settings
from app.slack import scopes
from app.slack.port import SlackError, SlackPort, web_client

Level = Literal["ok", "warning", "error"]
SIGNING_SECRET = re.compile(r"^[0-9a-f]{32}$")  # the form Slack issues (Basic Information)
EXIT = {"ok": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Check:
    level: Level
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok     ", "warning": "warning", "error": "error  "}[self.level]
        fix = f" — fix: {self.fix}" if self.fix and self.level != "ok" else ""
        return f"{mark} {self.name}: {self.detail}{fix}"


def exit_status(checks: Iterable[Check]) -> int:
    return max((EXIT[c.level] for c in checks), default=0)


async def run(
    settings: Settings, redis_url: str | None, redis_problem: str | None = None
) -> list[Check]:
    """Every check, in the order an operator fixes things."""
    checks: list[Check] = []
    policy = _policy(settings, checks)
    checks += _secrets(settings)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if token.startswith("xoxb-"):
        port = SlackPort(web_client(token, settings.slack_api_url))
        try:
            if await _slack(port, policy, checks):
                checks += await _channels(port, policy)
        finally:
            await port.close()
    checks += await _model(settings, policy)
    checks += await _redis(redis_url, redis_problem)
    if policy is not None and policy.defaults.require_eval is not None and redis_url:
        checks += await _evals(policy, redis_url)
    return checks


async def _evals(policy: Policy, redis_url: str) -> list[Check]:
    """`defaults.require_eval`: each allowed model's last `steward eval` must pass."""
    from app.governance.model_evidence import eval_issues, gated_models
    from app.summaries.prompts import PROMPT_VERSION

    client = aioredis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=5)
    try:
        issues = await eval_issues(policy, client, PROMPT_VERSION)
    except (aioredis.RedisError, OSError) as exc:
        return [Check("warning", "evals", f"cannot read eval results ({type(exc).__name__})")]
    finally:
        await client.aclose()
    fix = "run `steward eval --model M` against each, or change the model list"
    out = [Check("error", "evals", issue.message, fix) for issue in issues]
    return out or [Check("ok", "evals", f"{', '.join(gated_models(policy))}: passing evals")]


def _policy(settings: Settings, checks: list[Check]) -> Policy | None:
    try:
        policy = load_policy_or_default(settings.steward_policy)
    except PolicyError as exc:
        checks.append(
            Check(
                "error",
                "policy",
                f"{len(exc.errors)} problem(s) in {exc.source_name}",
                "run `steward policy check` and correct the lines it names",
            )
        )
        return None
    checks.append(Check("ok", "policy", f"{policy.source_name}: {len(policy.use_cases)} use cases"))
    return policy


def _secrets(settings: Settings) -> list[Check]:
    out: list[Check] = []
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if not token:
        out.append(
            Check(
                "error",
                "bot token",
                "SLACK_BOT_TOKEN is not set",
                "set it to the Bot User OAuth Token (xoxb-…) from OAuth & Permissions",
            )
        )
    elif not token.startswith("xoxb-"):
        kind = {"xoxp": "a user token", "xapp": "an app-level token"}.get(
            token[:4], "not a bot token"
        )
        out.append(
            Check(
                "error",
                "bot token",
                f"SLACK_BOT_TOKEN is {kind}",
                "use the Bot User OAuth Token (xoxb-…), not a user or app token",
            )
        )
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    if not secret:
        out.append(
            Check(
                "error",
                "signing secret",
                "SLACK_SIGNING_SECRET is not set",
                "copy the Signing Secret from the app's Basic Information page",
            )
        )
    elif not SIGNING_SECRET.match(secret):
        out.append(
            Check(
                "warning",
                "signing secret",
                "SLACK_SIGNING_SECRET does not look like Slack's (32 hex characters)",
                "copy the Signing Secret (not the Client Secret or a token) again",
            )
        )
    else:
        out.append(Check("ok", "signing secret", "set, in Slack's form"))
    return out


async def _slack(port: SlackPort, policy: Policy | None, checks: list[Check]) -> bool:
    """auth.test with the real token, then its granted scopes against what the policy needs."""
    try:
        response = await port.client.auth_test()
    except SlackApiError as exc:
        code = exc.response.get("error", "unknown_error")
        checks.append(
            Check(
                "error",
                "slack",
                f"auth.test refused the token ({code})",
                "reinstall the app and copy its current Bot User OAuth Token",
            )
        )
        return False
    except (SlackClientError, OSError, TimeoutError) as exc:
        checks.append(
            Check(
                "error",
                "slack",
                f"Slack is unreachable ({type(exc).__name__})",
                "check SLACK_API_URL and this machine's outbound HTTPS",
            )
        )
        return False
    data = response.data if isinstance(response.data, dict) else {}
    checks.append(Check("ok", "slack", f"bot {data.get('user_id')} in {data.get('team')}"))
    header = response.headers.get("x-oauth-scopes") if response.headers else None
    if header is None:
        checks.append(
            Check(
                "warning",
                "scopes",
                "Slack did not say which scopes were granted",
                "compare OAuth & Permissions with manifest.yml by hand",
            )
        )
        return True
    granted = {s.strip() for s in str(header).split(",") if s.strip()}
    features = features_in_use(policy) if policy else {"core"}
    missing = {s: n for s, n in scopes.needed(features).items() if s not in granted}
    for scope, needs in sorted(missing.items()):
        why = "; ".join(f"{n.why} ({n.feature})" for n in needs)
        checks.append(
            Check(
                "error",
                "scopes",
                f"missing `{scope}`: needed for {why}",
                f"add `{scope}` to the bot scopes (manifest.yml) and reinstall",
            )
        )
    if not missing:
        checks.append(Check("ok", "scopes", f"all {len(granted)} granted scopes cover the policy"))
    return True


def approval_channels(policy: Policy) -> set[str]:
    """Every channel the policy sends approval requests to."""
    out = {
        u.approval.channel for u in policy.use_cases.values() if u.approval and u.approval.channel
    }
    for overrides in policy.channels.values():
        out |= {o.approval.channel for o in overrides.values() if o.approval and o.approval.channel}
    return out


async def _channels(port: SlackPort, policy: Policy | None) -> list[Check]:
    out: list[Check] = []
    for channel in sorted(approval_channels(policy) if policy else set()):
        try:
            info = await port.conversation(channel)
        except SlackError as exc:
            out.append(
                Check(
                    "error",
                    "channels",
                    f"<#{channel}> can't be seen ({exc.code})",
                    "type `/invite @Steward` in that channel, or fix the policy's channel ID",
                )
            )
            continue
        name = f"#{info.get('name', channel)}"
        if info.get("is_archived"):
            out.append(
                Check(
                    "error",
                    "channels",
                    f"{name} (approvals) is archived",
                    "name a live approvals channel in the policy",
                )
            )
        elif info.get("is_member"):
            out.append(Check("ok", "channels", f"{name} (approvals): Steward is a member"))
        elif info.get("is_private"):
            out.append(
                Check(
                    "error",
                    "channels",
                    f"{name} (approvals): Steward is not a member",
                    f"type `/invite @Steward` in {name}",
                )
            )
        else:
            out.append(
                Check(
                    "warning",
                    "channels",
                    f"{name} (approvals): not a member yet; Steward joins it on first use",
                    f"type `/invite @Steward` in {name} to be sure",
                )
            )
    return out


async def _model(settings: Settings, policy: Policy | None) -> list[Check]:
    from app.model.probe import probe
    from app.runtime.process import build_llm

    llm = build_llm(settings) if settings.engine == "openai" else None
    if llm is None:
        explicit = settings.steward_engine == "offline"
        level: Level = "ok" if explicit else "warning"
        fix = "set OPENAI_API_KEY (or the Azure OpenAI settings) to use a model"
        return [Check(level, "model", "offline engine (extractive, no model is called)", fix)]
    out: list[Check] = []
    for model in policy_models(policy, settings.openai_model):
        capabilities = await probe(llm, model)
        out += [Check(level, "model", line) for level, line in capabilities.summary_lines()]
    return out


def policy_models(policy: Policy | None, deployment_default: str) -> list[str]:
    """Every model the policy can send requests to: its default (OPENAI_MODEL when the file
    names none, as `resolution.model_for` decides), and each use case's and channel's own."""
    if policy is None:
        return [deployment_default]
    named = "model" in policy.defaults.model_fields_set
    models = [policy.defaults.model if named else deployment_default]
    models += [u.model for u in policy.use_cases.values() if u.model]
    models += [o.model for c in policy.channels.values() for o in c.values() if o.model]
    return list(dict.fromkeys(models))


async def _redis(url: str | None, problem: str | None) -> list[Check]:
    if url is None:
        return [Check("error", "redis", problem or "no Redis to check")]
    client = aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        await client.ping()
        config = {**await client.config_get("appendonly"), **await client.config_get("maxmemory*")}
    except aioredis.ResponseError:
        return [
            Check(
                "warning",
                "redis",
                "answers, but its configuration can't be read (CONFIG)",
                "confirm with your provider: persistence on, maxmemory-policy noeviction",
            )
        ]
    except (aioredis.RedisError, OSError) as exc:
        return [
            Check(
                "error", "redis", f"unreachable ({type(exc).__name__})", "start it or fix REDIS_URL"
            )
        ]
    finally:
        await client.aclose()
    out: list[Check] = []
    if config.get("appendonly") == "yes":
        out.append(Check("ok", "redis", "append-only persistence is on"))
    else:
        out.append(
            Check(
                "warning",
                "redis",
                "appendonly is off: a crash can lose recent audit events",
                "set `appendonly yes` (or your provider's persistence option)",
            )
        )
    policy_name = str(config.get("maxmemory-policy") or "noeviction")
    if policy_name.startswith("allkeys-"):
        out.append(
            Check(
                "error",
                "redis",
                f"maxmemory-policy {policy_name} can evict the audit log",
                "set maxmemory-policy to noeviction",
            )
        )
    else:
        out.append(
            Check("ok", "redis", f"maxmemory-policy {policy_name} never evicts the audit log")
        )
    return out


def features_in_use(policy: Policy) -> set[str]:
    """The features this policy turns on; "core" always."""
    used = {"core", *policy.use_cases}
    if policy.admins:
        used.add("audit export")
    handles = any(m.startswith("@") for members in policy.groups.values() for m in members)
    if handles:
        used.add("approvals")
    if policy.names:  # `#launch` / `@priya`, looked up in Slack at load
        used.add("policy names")
    return used
