"""Loading the governance policy file: text, file or built-in default to a `Policy`, with every
mistake named by line (`PolicyError`), and `check_source` for `steward policy check`.

The YAML is composed into nodes (not loaded straight to dicts) so every value keeps its line
number; validation collects *every* mistake as a `PolicyIssue(line, path, message)` rather than
stopping at the first, so an admin fixes a file in one pass. Structure and types are checked by
pydantic models; references between sections (groups, use cases, model allowlists, timer order)
by hand afterwards. The schema is app/governance/policy_schema.py, the line-keeping YAML reader
policy_yaml.py, the checks policy_checks.py, the issues policy_issues.py. Applying a policy to a
request is app/governance/resolution.py; comparing two versions is app/governance/diff.py.

- Listing a use case without `channels` means `channels: ["*"]`.
- Within an `approval` block, `required` defaults to true when `approvers` is given.
- Escalation times count from submission: `chain: [{after: 4h, to: legal}, {after: 8h, to: cfo}]`
  asks legal 4 h and the cfo 8 h after the draft was submitted. They must increase, and
  `expire_after` must come after the last one; it defaults to the last step plus 24 h.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from app.governance import policy_names
from app.governance.policy_checks import parse_sections
from app.governance.policy_issues import Issues, PolicyError, PolicyIssue
from app.governance.policy_schema import Policy
from app.governance.policy_yaml import compose

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _parse(text: str, source_name: str, source_hash: str) -> tuple[Policy, list[PolicyIssue]]:
    issues = Issues({})
    data = compose(text, issues)
    if issues.items:  # a syntax error: nothing below it can be trusted
        return Policy(source_name=source_name, source_hash=source_hash), issues.sorted()
    policy = parse_sections(data, issues, source_name, source_hash)
    # `#launch` / `@priya` are kept as written, with their lines, until Slack says what they are
    # (app/governance/name_lookup.py); a policy with names is not used before that.
    policy = policy.model_copy(update={"names": policy_names.find(policy, issues)})
    return policy, issues.sorted()


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_policy_text(text: str, source_name: str = "<policy>") -> list[PolicyIssue]:
    """Every problem in a policy text, in line order; [] when it is valid."""
    return _parse(text, source_name, _hash(text.encode()))[1]


def load_policy_text(text: str, source_name: str = "<policy>") -> Policy:
    """Parse and validate policy YAML; raises PolicyError listing every problem."""
    policy, problems = _parse(text, source_name, _hash(text.encode()))
    if problems:
        raise PolicyError(problems, source_name)
    return policy


def _read(path: str | Path) -> tuple[str, bytes]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PolicyError(
            [PolicyIssue(None, "", f"cannot read {path}: {reason}")], str(path)
        ) from exc
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyIssue(None, "", f"{path} is not UTF-8 text")], str(path)) from exc


def load_policy(path: str | Path) -> Policy:
    """Load a policy file; raises PolicyError (every problem, with lines) if it is unusable."""
    text, data = _read(path)
    policy, problems = _parse(text, str(path), _hash(data))
    if problems:
        raise PolicyError(problems, str(path))
    return policy


def check_policy_file(path: str | Path) -> list[PolicyIssue]:
    """Every problem in a policy file ([] when valid); an unreadable file is one problem."""
    try:
        text, data = _read(path)
    except PolicyError as exc:
        return exc.errors
    return _parse(text, str(path), _hash(data))[1]


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The built-in policy used when there is no policy file (app/default_policy.yml)."""
    text = (
        resources.files("app.governance").joinpath("default_policy.yml").read_text(encoding="utf-8")
    )
    return load_policy_text(text, "<built-in default policy>")


def load_policy_or_default(path: str | Path | None) -> Policy:
    """STEWARD_POLICY semantics: the given file; else ./policy.yml if present; else the default.

    A path that was asked for explicitly must exist: silently falling back to the permissive
    default because of a typo in STEWARD_POLICY would be a governance hole.
    """
    if path is not None and str(path) != "":
        return load_policy(path)
    if Path("policy.yml").is_file():
        return load_policy("policy.yml")
    return default_policy()


@dataclass(frozen=True)
class CheckResult:
    """What `steward policy check` reports: the file checked, its problems, the policy if valid."""

    name: str
    problems: list[PolicyIssue]
    policy: Policy | None
    note: str = ""


def check_source(path: str | Path | None) -> CheckResult:
    """Check the policy `load_policy_or_default` would read: `path`, else ./policy.yml, else
    the built-in one (with a note saying there is no file)."""
    if (path is None or str(path) == "") and Path("policy.yml").is_file():
        path = "policy.yml"
    if path is None or str(path) == "":
        text = (
            resources.files("app.governance")
            .joinpath("default_policy.yml")
            .read_text(encoding="utf-8")
        )
        name = "<built-in default policy>"
        policy, problems = _parse(text, name, _hash(text.encode()))
        note = "no policy file (STEWARD_POLICY unset, no ./policy.yml): checked the built-in one"
        return CheckResult(name, problems, None if problems else policy, note)
    problems = check_policy_file(path)
    return CheckResult(str(path), problems, None if problems else load_policy(path))
