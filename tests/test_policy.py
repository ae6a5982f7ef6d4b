"""Loading, validation (with line numbers), resolution and diffs of the policy file."""

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from app.governance.budget import Budget
from app.governance.diff import diff
from app.governance.policy import (
    check_policy_file,
    check_policy_text,
    default_policy,
    load_policy,
    load_policy_or_default,
    load_policy_text,
)
from app.governance.policy_issues import PolicyError, PolicyIssue
from app.governance.policy_schema import ApprovalRule, ApprovalStep, Policy
from app.governance.resolution import Grant, GroupMembers, approvers_for, resolve
from app.governance.roles import role_of

# The example from PRODUCT.md ("Policy file"), verbatim.
PRODUCT_EXAMPLE = dedent(
    """\
    admins: [U0ADMIN]                     # review audit logs, change policy, pause AI
    groups:                               # approver groups: user IDs or a Slack user group handle
      managers: [U0MGR1, U0MGR2]
      legal: ["@legal-team"]
    defaults:
      model: gpt-4o-mini
      redact_pii: true
      retention_days: 365
      budget: {user_daily_tokens: 200000, team_daily_tokens: 5000000, user_requests_per_minute: 10}
    use_cases:
      summarize:
        channels: ["*"]                   # "*" or channel IDs; deny_channels: [...] to exclude
      draft:
        channels: ["*"]
        approval:
          required: true
          approvers: managers             # a group name
          escalate_after: 4h
          escalate_to: legal              # chains may be longer: a list of {after, to}
          expire_after: 24h
          channel: C0APPROVALS            # optional; default: a thread in the draft's own channel
    channels:                             # per-channel overrides of any use-case setting
      C0PUBLIC:
        draft: {approval: {required: true, approvers: legal}}
    """
)


def issues_of(text: str) -> list[str]:
    return [str(issue) for issue in check_policy_text(dedent(text))]


# --- loading ------------------------------------------------------------------------------------


def test_product_example_loads_cleanly() -> None:
    assert check_policy_text(PRODUCT_EXAMPLE) == []
    policy = load_policy_text(PRODUCT_EXAMPLE)
    assert policy.admins == ["U0ADMIN"]
    assert policy.defaults.retention_days == 365
    assert policy.use_cases["draft"].approval is not None
    assert policy.use_cases["draft"].approval.escalate_after == timedelta(hours=4)


def test_product_example_matches_the_spec_file() -> None:
    spec = Path("/work/shared/PRODUCT.md")
    if not spec.exists():
        pytest.skip("PRODUCT.md is not on this machine")
    block = spec.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    assert check_policy_text(block) == []


def test_three_mistakes_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(
        PRODUCT_EXAMPLE.replace("approvers: managers ", "approvers: manager  ")  # line 17
        .replace("escalate_after: 4h", "escalate_after: 4 hours")  # line 18
        .replace("retention_days: 365", "retention_dayz: 365")  # line 8
    )
    assert [str(i) for i in check_policy_file(path)] == [
        "line 8: defaults.retention_dayz: unknown key 'retention_dayz' "
        "(did you mean 'retention_days'?)",
        "line 17: use_cases.draft.approval.approvers: unknown group 'manager' "
        "(did you mean 'managers'?)",
        "line 18: use_cases.draft.approval.escalate_after: invalid duration '4 hours': use a "
        "number and a unit, e.g. '90s', '30m', '4h', '2d', '1w' or '1h30m'",
    ]
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert [i.line for i in caught.value.errors] == [8, 17, 18]
    assert "3 problem(s)" in str(caught.value)
    assert "line 17: use_cases.draft.approval.approvers: unknown group 'manager'" in str(
        caught.value
    )


def test_issue_fields() -> None:
    [issue] = check_policy_text("admins: [bob]\n")
    message = "'bob' is not a Slack user ID (like U0123ABCD) or @name"
    assert issue == PolicyIssue(1, "admins[0]", message)


def test_yaml_syntax_error_names_its_line() -> None:
    [issue] = check_policy_text("admins: [U1AA]\ngroups:\n  a: [U1AA\n  b: 1\n")
    assert issue.line == 4
    assert issue.message.startswith("YAML syntax error")


def test_duplicate_key_is_reported_at_the_second_occurrence() -> None:
    assert issues_of(
        """\
        use_cases:
          summarize: {}
          summarize: {channels: [C1AA]}
        """
    ) == ["line 3: use_cases.summarize: duplicate key (first given on line 2)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("admins: U0ADMIN\n", "line 1: admins: expected a list, got 'U0ADMIN'"),
        ("groups: {legal: [legal-team]}\n", "line 1: groups.legal[0]: 'legal-team' is neither"),
        ("groups: {legal: []}\n", "line 1: groups.legal: group has no members"),
        ("defaults: {redact_pii: maybe}\n", "line 1: defaults.redact_pii: expected true or false"),
        ("defaults: {retention_days: 0}\n", "line 1: defaults.retention_days: must be at least 1"),
        ("defaults:\n  budget: {user_daily_tokens: -5}\n", "line 2: defaults.budget.user_daily"),
        ("polcy: {}\n", "line 1: polcy: unknown key 'polcy'"),
        ("use_case: {}\n", "line 1: use_case: unknown key 'use_case' (did you mean 'use_cases'?)"),
        ("use_cases: {Draft: {}}\n", "line 1: use_cases.Draft: 'Draft' is not a valid name"),
        ("use_cases:\n  draft: {channels: [general]}\n", "line 2: use_cases.draft.channels[0]: "),
        ("use_cases:\n  draft: {deny_channels: ['*']}\n", "line 2: use_cases.draft.deny_channels"),
        ("channels: {'#two words': {}}\n", "line 1: channels.#two words: '#two words' is not"),
        ("use_cases: {draft: {}}\nchannels: {C1AA: {drafts: {}}}\n", "did you mean 'draft'?"),
        ("use_cases: {draft: {channels: [C1AA], deny_channels: [C1AA]}}\n", "also listed"),
        ("- a\n- b\n", "line 1: expected a mapping of keys to values"),
        ("use_cases:\n  draft: {channels: '*'}\n", "expected a list, got '*' (write [\"*\"])"),
        (
            "use_cases:\n  draft: {approval: {chain: [{after: 1h}]}}\n",
            "to: required key is missing",
        ),
    ],
)
def test_single_mistakes(text: str, expected: str) -> None:
    found = issues_of(text)
    assert len(found) == 1, found
    assert found[0].startswith(expected) or expected in found[0], found


def test_approval_mistakes() -> None:
    found = issues_of(
        """\
        groups: {managers: [U0MGR1], legal: ["@legal-team"]}
        use_cases:
          draft:
            approval:
              approvers: managers
              chain:
                - {after: 4h, to: legal}
                - {after: 2h, to: cfo}
              expire_after: 3h
          summarize:
            approval: {required: true, escalate_after: 1h}
        """
    )
    assert found == [
        "line 8: use_cases.draft.approval.chain[1].after: 2h must be later than the step before "
        "(times count from submission)",
        "line 8: use_cases.draft.approval.chain[1].to: unknown group 'cfo'",
        "line 9: use_cases.draft.approval.expire_after: 3h is not longer than the last "
        "escalation (4h), so the request would expire before it escalates",
        "line 11: use_cases.summarize.approval.approvers: missing: approval is required, so "
        "name the approver group",
        "line 11: use_cases.summarize.approval.escalate_to: missing: escalate_after is set, so "
        "name the group to escalate to",
    ]


def test_unknown_use_case_names_are_errors_with_a_suggestion() -> None:
    found = issues_of("use_cases:\n  summarise: {channels: ['*']}\n  draft: {}\n")
    assert found == [
        "line 2: use_cases.summarise: unknown use case 'summarise' (did you mean 'summarize'?); "
        "Steward's use cases are summarize, draft, ask"
    ]


def test_model_allowlist() -> None:
    found = issues_of(
        """\
        defaults:
          model: gpt-4o-mini
          allowed_models: [gpt-4o-mini, gpt-4o]
        use_cases:
          summarize: {model: o1}
          draft: {allowed_models: [gpt-4o, gpt-5]}
        """
    )
    assert found == [
        "line 5: use_cases.summarize.model: model 'o1' is not in the allowed models "
        "(gpt-4o-mini, gpt-4o)",
        "line 6: use_cases.draft.allowed_models: the default model 'gpt-4o-mini' is not "
        "allowed here; set a model",
        "line 6: use_cases.draft.allowed_models[1]: model 'gpt-5' is not in "
        "defaults.allowed_models",
    ]
    in_channel = issues_of(
        """\
        defaults:
          model: gpt-4o-mini
          allowed_models: [gpt-4o-mini, gpt-4o]
        use_cases:
          summarize: {allowed_models: [gpt-4o], model: gpt-4o}
        channels:
          C1AA:
            summarize: {model: gpt-4o-mini}
        """
    )
    assert in_channel == [
        "line 8: channels.C1AA.summarize.model: model 'gpt-4o-mini' is not in the allowed "
        "models (gpt-4o)",
    ]


def test_defaults_model_must_be_allowed() -> None:
    assert issues_of("defaults: {model: x, allowed_models: [y]}\n") == [
        "line 1: defaults.model: model 'x' is not in the allowed models (y)"
    ]


def test_enable_conflicting_with_deny_is_an_error() -> None:
    assert issues_of(
        """\
        use_cases:
          draft: {deny_channels: [C1AA]}
        channels:
          C1AA:
            draft: {enabled: true}
        """
    ) == [
        "line 5: channels.C1AA.draft.enabled: conflicts with use_cases.draft.deny_channels, "
        "which lists C1AA (deny wins)"
    ]


def test_a_broken_value_does_not_cause_follow_up_errors() -> None:
    # The bad duration is reported once, not also as "escalate_after is missing".
    found = issues_of(
        """\
        groups: {m: [U1AA], l: [U2AA]}
        use_cases:
          draft:
            approval: {approvers: m, escalate_after: soon, escalate_to: l}
        """
    )
    assert len(found) == 1 and "invalid duration 'soon'" in found[0]


def test_errors_in_one_section_do_not_hide_errors_in_another() -> None:
    found = issues_of(
        """\
        groups: {managers: [U1AA, nobody]}
        use_cases:
          draft:
            redact_pii: sometimes
            approval: {approvers: manager}
        channels:
          C1AA:
            summarise: {enabled: true}
        """
    )
    assert [f.split(":")[0] for f in found] == ["line 1", "line 4", "line 5", "line 8"]


def test_empty_file_is_an_empty_policy() -> None:
    policy = load_policy_text("")
    assert policy.use_cases == {}
    assert not resolve(policy, "U1", "summarize", "C1").allowed


def test_anchors_and_merge_keys() -> None:
    policy = load_policy_text(
        dedent(
            """\
            groups: {m: [U1AA]}
            use_cases:
              draft: &base
                channels: [C1AA]
                approval: {approvers: m}
              summarize:
                <<: *base
                channels: [C2AA]
            """
        )
    )
    assert policy.use_cases["summarize"].channels == ["C2AA"]
    assert policy.use_cases["summarize"].approval == policy.use_cases["draft"].approval


def test_recursive_alias_is_an_error_not_a_hang() -> None:
    found = check_policy_text("admins: &a [*a]\n")
    assert any("recursive alias" in str(f) for f in found)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    [issue] = check_policy_file(missing)
    assert issue.line is None and "cannot read" in issue.message
    with pytest.raises(PolicyError):
        load_policy(missing)
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in check_policy_file(binary)[0].message


def test_source_hash_is_sha256_of_the_file(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "policy.yml"
    path.write_text(PRODUCT_EXAMPLE)
    policy = load_policy(path)
    assert policy.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert policy.source_name == str(path)
    assert resolve(policy, "U1", "draft", "C1").policy_hash == policy.source_hash


def test_default_policy() -> None:
    policy = default_policy()
    assert policy.admins == [] and policy.groups == {}
    for use_case in ("summarize", "draft"):
        decision = resolve(policy, "U1", use_case, "C0ANY")
        assert decision.allowed and decision.approval is None
    assert not resolve(policy, "U1", "translate", "C0ANY").allowed


def test_load_policy_or_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_policy_or_default(None) == default_policy()
    (tmp_path / "policy.yml").write_text(PRODUCT_EXAMPLE)
    assert load_policy_or_default(None).admins == ["U0ADMIN"]
    with pytest.raises(PolicyError):  # an explicit path that is missing is an error, not a fallback
        load_policy_or_default(tmp_path / "typo.yml")


# --- resolution ---------------------------------------------------------------------------------


@pytest.fixture
def example() -> Policy:
    return load_policy_text(PRODUCT_EXAMPLE, "policy.yml")


def test_resolve_product_example(example: Policy) -> None:
    decision = resolve(example, "U1", "draft", "C0GENERAL")
    assert decision.allowed
    assert decision.rule == "use_cases.draft (channels: *)"
    assert decision.model == "gpt-4o-mini" and decision.redact_pii
    assert decision.budget == Budget(200000, 5000000, 10)
    assert decision.approval == ApprovalRule(
        required=True,
        steps=(ApprovalStep("managers", timedelta(0)), ApprovalStep("legal", timedelta(hours=4))),
        expire_after=timedelta(hours=24),
        channel="C0APPROVALS",
    )
    summarize = resolve(example, "U1", "summarize", "C0GENERAL")
    assert summarize.allowed and summarize.approval is None


def test_channel_override_merges_approval(example: Policy) -> None:
    decision = resolve(example, "U1", "draft", "C0PUBLIC")
    assert decision.rule == "channels.C0PUBLIC.draft"
    assert decision.approval is not None
    assert decision.approval.approvers == "legal"
    # Not given in the override, so inherited from use_cases.draft.approval:
    assert decision.approval.steps[1:] == (ApprovalStep("legal", timedelta(hours=4)),)
    assert decision.approval.expire_after == timedelta(hours=24)
    assert decision.approval.channel == "C0APPROVALS"


def test_unlisted_use_case_is_off(example: Policy) -> None:
    decision = resolve(
        example, "U1", "translate", "C0GENERAL", [Grant("translate", "C0GENERAL", "G1", "U0ADMIN")]
    )
    assert not decision.allowed
    assert decision.rule == "use case 'translate' not in policy"
    assert "translate" in decision.reason


RULES = dedent(
    """\
    groups: {m: [U1AA], l: ["@legal"], c: [U2AA]}
    defaults:
      model: small
      budget: {user_daily_tokens: 1000}
    use_cases:
      draft:
        channels: [C1AA, C2AA]
        deny_channels: [C3AA]
        model: big
        budget: {user_requests_per_minute: 3}
        approval:
          approvers: m
          chain: [{after: 1h, to: l}, {after: 3h, to: c}]
    channels:
      C1AA:
        draft: {enabled: false}
      C2AA:
        draft: {redact_pii: false, budget: {team_daily_tokens: 7}, approval: {required: false}}
      C4AA:
        draft: {enabled: true, approval: {approvers: l, escalate_after: 2h, escalate_to: c}}
      C5AA:
        draft: {model: big}
    """
)


@pytest.mark.parametrize(
    ("channel", "allowed", "rule"),
    [
        ("C1AA", False, "channels.C1AA.draft.enabled"),
        ("C2AA", True, "channels.C2AA.draft"),
        ("C3AA", False, "use_cases.draft.deny_channels"),
        ("C4AA", True, "channels.C4AA.draft"),
        ("C5AA", False, "use_cases.draft.channels"),  # settings alone do not enable
        ("C6AA", False, "use_cases.draft.channels"),
    ],
)
def test_resolution_rules(channel: str, allowed: bool, rule: str) -> None:
    decision = resolve(load_policy_text(RULES), "U1", "draft", channel)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert bool(decision.reason) is not allowed
    if not allowed:
        assert decision.approval is None


def test_resolution_settings_layering() -> None:
    policy = load_policy_text(RULES)
    c2 = resolve(policy, "U1", "draft", "C2AA")
    assert (c2.model, c2.redact_pii, c2.approval) == ("big", False, None)
    assert c2.budget == Budget(1000, 7, 3)
    c4 = resolve(policy, "U1", "draft", "C4AA")
    assert c4.approval is not None
    assert c4.approval.steps == (
        ApprovalStep("l", timedelta(0)),
        ApprovalStep("c", timedelta(hours=2)),
    )
    assert c4.approval.expire_after == timedelta(hours=26)  # last step + 24h by default
    assert c4.budget == Budget(1000, 5_000_000, 3)


def test_chain_normalisation() -> None:
    policy = load_policy_text(RULES)
    # C7AA has no override, so the rule is use_cases.draft.approval alone.
    granted = resolve(policy, "U1", "draft", "C7AA", [Grant("draft", "C7AA", "G1", "U0ADMIN")])
    assert granted.approval is not None
    assert granted.approval.steps == (
        ApprovalStep("m", timedelta(0)),
        ApprovalStep("l", timedelta(hours=1)),
        ApprovalStep("c", timedelta(hours=3)),
    )


def test_grants() -> None:
    policy = load_policy_text(RULES)
    grants = [Grant("draft", "C6AA", "G12", "U0ADMIN"), Grant("draft", "C1AA", "G13", "U0ADMIN")]
    decision = resolve(policy, "U1", "draft", "C6AA", grants)
    assert (decision.allowed, decision.rule, decision.grant_id) == (
        True,
        "granted request G12",
        "G12",
    )
    # A grant only opens its own channel and its own use case ...
    assert not resolve(policy, "U1", "draft", "C8AA", grants).allowed
    # ... and never beats an explicit deny in the file.
    assert resolve(policy, "U1", "draft", "C1AA", grants).rule == "channels.C1AA.draft.enabled"
    deny = [Grant("draft", "C3AA", "G14", "U0ADMIN")]
    assert resolve(policy, "U1", "draft", "C3AA", deny).rule == "use_cases.draft.deny_channels"


def test_override_approvers_imply_required() -> None:
    policy = load_policy_text(
        dedent(
            """\
            groups: {legal: [U1AA]}
            use_cases: {draft: {approval: {required: false}}}
            channels: {C1AA: {draft: {approval: {approvers: legal}}}}
            """
        )
    )
    assert resolve(policy, "U1", "draft", "C2AA").approval is None
    rule = resolve(policy, "U1", "draft", "C1AA").approval
    assert rule is not None and rule.approvers == "legal"


def test_groups_and_admins(example: Policy) -> None:
    assert role_of(example, "U0ADMIN") == "admin" and role_of(example, "U0MGR1") != "admin"
    assert approvers_for(example, "managers") == GroupMembers(("U0MGR1", "U0MGR2"), ())
    assert approvers_for(example, "legal") == GroupMembers((), ("@legal-team",))
    assert not approvers_for(example, "gone")


# --- diff ---------------------------------------------------------------------------------------


def test_diff_reports_effective_changes(example: Policy) -> None:
    changed = load_policy_text(
        PRODUCT_EXAMPLE.replace("approvers: managers ", "approvers: legal    ")
        .replace("[U0MGR1, U0MGR2]", "[U0MGR1]")
        .replace('    channels: ["*"]                   #', "    channels: [C0ONE]  #", 1)
    )
    assert diff(example, changed) == [
        "groups.managers: U0MGR1, U0MGR2 → U0MGR1",
        "use_cases.draft.approval.approvers: managers → legal",
        "use_cases.summarize.channels: * → C0ONE",
    ]


def test_diff_ignores_comments_and_layout_but_sees_equivalent_forms(example: Policy) -> None:
    reformatted = load_policy_text(
        PRODUCT_EXAMPLE.replace("# a group name", "")
        .replace("escalate_after: 4h", "escalate_after: 240m")
        .replace(
            "escalate_to: legal              # chains may be longer: a list of {after, to}",
            "",
        )
        .replace("escalate_after: 240m", "chain: [{after: 240m, to: legal}]")
    )
    assert diff(example, reformatted) == []


def test_diff_added_and_removed(example: Policy) -> None:
    fewer = load_policy_text(PRODUCT_EXAMPLE.replace('  summarize:\n    channels: ["*"]', ""))
    lines = diff(example, fewer)
    assert "use_cases.summarize.channels: removed (was *)" in lines
    assert "use_cases.summarize.channels: added (*)" in diff(fewer, example)
