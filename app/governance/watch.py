"""Hot reload of the policy file, in every process.

Each process runs one `PolicyWatcher` (started by app/runtime/process.py with the workers).
Every second it reads the policy file and hashes it; when the bytes change it validates the new
text and:

- **valid**: swaps `services.policy` (one attribute assignment, so a request sees either the old
  or the new policy, never a mix; `governance.decide` reads it per request) and records ONE
  `policy_changed` audit event for the change across all processes: a small Lua compare-and-set
  on `steward:policy:current` (hash + text of the policy last recorded) lets exactly one process
  move it from the old hash to the new one, and that process writes the event with the readable
  diff (`policy.diff`) computed against the text stored there;
- **invalid** (YAML, schema, references, a model the deployment may not use, or, under
  `defaults.require_eval`, an allowed model without a passing `steward eval`): keeps the
  running policy and DMs the admins of the running policy the errors, with line numbers, once
  per bad file hash across all processes (`steward:policy:bad:<hash>`, SET NX).

A valid file's `#channel` / `@name` entries are then resolved through Slack, afresh (so a rename
in Slack shows in the next version; app/governance/name_lookup.py): a name that resolves to
nothing makes the file invalid like any other mistake, with its line; Slack not answering
defers the reload to the next poll.

Reading a few kilobytes and hashing them once a second is cheaper than it sounds and, unlike
comparing mtimes, never misses an edit that kept the size and landed within the same tick.
All processes are expected to read the same file (one deployment, one policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from app.governance import diff as policy_diff
from app.governance import model_evidence, name_lookup
from app.governance import policy as policy_
from app.governance.approvers import forget_groups
from app.governance.keys import POLICY_CURRENT, policy_reported_bad
from app.governance.policy_issues import PolicyError, PolicyIssue
from app.governance.policy_schema import DEFAULT_MODEL, Policy
from app.runtime.services import Services
from app.runtime.settings import Settings
from app.slack.port import SlackError
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
BAD_TTL_SECONDS = 7 * 86400
BUILT_IN = "<built-in default policy>"
MAX_LISTED = 20  # errors listed in a DM; the rest are counted

# Move the recorded policy from whatever it is to ARGV[1] (hash) / ARGV[2] (text). Returns
# {0} when it already is that hash (another process recorded this change), else {1, old text}.
_ADVANCE = """
local current = redis.call('HGET', KEYS[1], 'hash')
if current == ARGV[1] then
  return {0, ''}
end
local old = redis.call('HGET', KEYS[1], 'text') or ''
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'text', ARGV[2])
return {1, old}
"""

Outcome = Literal["unchanged", "reloaded", "invalid", "deferred"]


def watched_path(settings: Settings) -> Path:
    """The file `load_policy_or_default` reads: STEWARD_POLICY, else ./policy.yml (which may
    not exist yet: creating it later is a change like any other)."""
    if settings.steward_policy is not None and str(settings.steward_policy) != "":
        return Path(settings.steward_policy)
    return Path("policy.yml")


def deployment_issues(policy: Policy, settings: Settings) -> list[PolicyIssue]:
    """Problems that depend on the deployment, not the file: when the policy names no model,
    OPENAI_MODEL is what gets called, and it must be in the allowed models too."""
    if settings.engine != "openai" or "model" in policy.defaults.model_fields_set:
        return []
    deployed = settings.openai_model
    issues: list[PolicyIssue] = []
    for name, use_case in sorted(policy.use_cases.items()):
        allowed = use_case.allowed_models or policy.defaults.allowed_models
        models = [use_case.model] + [
            overrides[name].model for overrides in policy.channels.values() if name in overrides
        ]
        uses_deployed = any(m is None or m == DEFAULT_MODEL for m in models)
        if allowed is not None and uses_deployed and deployed not in allowed:
            issues.append(
                PolicyIssue(
                    None,
                    f"use_cases.{name}",
                    f"no model is set, so OPENAI_MODEL '{deployed}' would be used, and it is "
                    f"not in the allowed models ({', '.join(allowed)}); set defaults.model",
                )
            )
    return issues


def load_policy_in_force(settings: Settings) -> Policy:
    """The policy at start: the file (or the built-in one), checked against the deployment."""
    policy = policy_.load_policy_or_default(settings.steward_policy)
    problems = deployment_issues(policy, settings)
    if problems:
        raise PolicyError(problems, policy.source_name)
    return policy


def _built_in_text() -> str:
    return (
        resources.files("app.governance").joinpath("default_policy.yml").read_text(encoding="utf-8")
    )


@dataclass(frozen=True)
class _Read:
    data: bytes | None  # None: the file is absent
    error: str | None = None


class PolicyWatcher:
    def __init__(self, services: Services, path: Path, interval: float = POLL_SECONDS) -> None:
        self.services = services
        self.path = path
        self.interval = interval
        self._seen = services.policy.source_hash
        self._stop = asyncio.Event()
        self._advance = services.redis.register_script(_ADVANCE)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        try:
            await self.adopt_startup_policy()
        except Exception:  # Redis down at start: the poll below retries the recording
            log.exception("could not record the policy in force")
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
            if self._stop.is_set():
                return
            try:
                await self.check_once()
            except Exception:  # a watcher that dies silently would freeze the policy forever
                log.exception("policy reload check failed")

    async def adopt_startup_policy(self) -> None:
        """Record the policy this process started with, if it differs from the last recorded
        one (the file changed while Steward was stopped)."""
        policy = self.services.policy
        if policy.source_name == BUILT_IN:
            text = _built_in_text()
        else:
            read = self._read()
            if read.data is None or _sha(read.data) != policy.source_hash:
                return  # edited since start: the next poll handles it
            text = read.data.decode("utf-8")
        await self._record(policy, text, previous=None)

    def _read(self) -> _Read:
        try:
            return _Read(self.path.read_bytes())
        except FileNotFoundError:
            return _Read(None, f"cannot read {self.path}: the file is missing")
        except OSError as exc:
            return _Read(None, f"cannot read {self.path}: {exc.strerror or exc}")

    async def check_once(self) -> Outcome:
        """One poll: reload, report, or nothing. Public so tests can drive it deterministically."""
        read = self._read()
        running = self.services.policy
        if read.data is None:
            if running.source_name == BUILT_IN and not self.path.exists():
                return "unchanged"  # no file then, no file now
            marker = f"missing:{self.path}"
            if self._seen != marker:
                self._seen = marker
                issue = PolicyIssue(None, "", read.error or "cannot read the policy file")
                await self._report([issue], marker)
                return "invalid"
            return "unchanged"
        digest = _sha(read.data)
        if digest == self._seen:
            return "unchanged"
        seen, self._seen = self._seen, digest
        if digest == running.source_hash:
            return "unchanged"  # back to the policy in force (e.g. a bad edit was undone)
        candidate, problems = self._validate(read.data)
        if candidate is not None:  # `require_eval`: every allowed model shows a passing eval
            version = self.services.prompt_version
            problems = await model_evidence.eval_issues(candidate, self.services.redis, version)
            if problems:  # looked at again each poll: a passing `steward eval` admits the file
                self._seen = seen
        if candidate is None or problems:
            await self._report(problems, digest)
            return "invalid"
        try:  # names afresh: a channel renamed in Slack since the last version is seen now
            in_force = await name_lookup.resolve(
                self.services.slack, self.services.redis, candidate, fresh=True
            )
        except PolicyError as exc:
            await self._report(exc.errors, digest)
            return "invalid"
        except SlackError as exc:  # not a verdict on the file: ask again at the next poll
            log.warning("policy names could not be resolved", extra={"code": exc.code})
            self._seen = seen
            return "deferred"
        # The change is in the audit log before it is in force: nobody is ever served by a
        # policy whose `policy_changed` event is not yet written. Not recorded, not applied;
        # the next poll tries again.
        try:
            await self._record(candidate, read.data.decode("utf-8"), previous=running)
        except BaseException:
            self._seen = seen
            raise
        self.services.policy = in_force
        await forget_groups(self.services, running, in_force)
        log.info("policy reloaded", extra={"hash": digest[:12], "path": str(self.path)})
        return "reloaded"

    def _validate(self, data: bytes) -> tuple[Policy | None, list[PolicyIssue]]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None, [PolicyIssue(None, "", f"{self.path} is not UTF-8 text")]
        try:
            candidate = policy_.load_policy_text(text, str(self.path))
        except PolicyError as exc:
            return None, exc.errors
        problems = deployment_issues(candidate, self.services.settings)
        return (None, problems) if problems else (candidate, [])

    async def _record(self, new: Policy, text: str, previous: Policy | None) -> None:
        """The single `policy_changed` event for this change, whichever process gets here first."""
        moved, old_text = await self._advance(keys=[POLICY_CURRENT], args=[new.source_hash, text])
        if not int(moved):
            return
        if not old_text:
            return  # the first policy this Redis has seen: nothing changed, it just started
        old = _parse_or(old_text, previous)
        changes = (
            policy_diff.diff(old, new) if old is not None else ["(previous policy unreadable)"]
        )
        if not changes:
            return  # comments or layout only: not an effective change
        log.info("policy change recorded", extra={"hash": new.source_hash[:12]})
        await self.services.audit.record(
            interaction_id=f"policy_{new.source_hash[:16]}",
            event="policy_changed",
            reason=f"{new.source_name} changed: " + "; ".join(changes)[:3000],
            extra={
                "source": "file",
                "path": new.source_name,
                "hash": new.source_hash,
                "previous_hash": old.source_hash if old is not None else None,
                "diff": changes,
            },
        )

    async def _report(self, problems: list[PolicyIssue], key: str) -> None:
        """DM the running policy's admins the problems, once per bad version across processes."""
        log.warning("policy file rejected", extra={"problems": len(problems)})
        first = await self.services.redis.set(
            policy_reported_bad(key), "1", nx=True, ex=BAD_TTL_SECONDS
        )
        if not first:
            return
        running = self.services.policy
        listed = "\n".join(f"• {issue}" for issue in problems[:MAX_LISTED])
        more = len(problems) - MAX_LISTED
        text = (
            f":warning: The policy file `{self.path}` was changed, but it has {len(problems)} "
            f"problem(s), so it was *not* applied. The policy in force is unchanged "
            f"(version `{running.source_hash[:12]}`).\n{listed}"
            + (
                f"\n…and {more} more; run `steward policy check` to see them all."
                if more > 0
                else ""
            )
        )
        if not running.admins:
            log.warning("no admins to tell about the rejected policy file")
        for admin in running.admins:
            try:
                await self.services.slack.tell(ReplyTo.dm(admin), text)
            except SlackError as exc:
                log.warning("could not DM an admin", extra={"admin": admin, "code": exc.code})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_or(text: str, fallback: Policy | None) -> Policy | None:
    try:
        return policy_.load_policy_text(text, "<recorded policy>")
    except PolicyError:
        return fallback
