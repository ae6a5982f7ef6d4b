"""Property tests for `resolve`: random policies (built as YAML and loaded), random questions.

No deadlines: each example parses YAML, whose time varies on a loaded CI machine.
"""

import dataclasses
import random
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.governance.policy import load_policy_text
from app.governance.policy_schema import Policy
from app.governance.resolution import Decision, Grant, grantable, resolve

CHANNELS = ["C1AA", "C2AA", "C3AA", "C4AA", "C5AA"]
USE_CASES = ["summarize", "draft", "ask"]  # every use case a policy may name
UNLISTED = "brainstorm"  # never in a generated policy
GROUPS = {"managers": ["U0MGR1"], "legal": ["@legal-team"]}

channel_lists = st.lists(st.sampled_from(CHANNELS), unique=True, max_size=3)
approvals = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"required": st.booleans(), "approvers": st.sampled_from(sorted(GROUPS))}
    ),
)


@st.composite
def use_case_bodies(draw: st.DrawFn) -> dict[str, Any]:
    deny = draw(channel_lists)
    allow = [c for c in draw(channel_lists) if c not in deny]
    if draw(st.booleans()):
        allow = ["*", *allow]
    body: dict[str, Any] = {"channels": allow, "deny_channels": deny}
    if (approval := draw(approvals)) is not None:
        body["approval"] = approval
    if draw(st.booleans()):
        body["model"] = draw(st.sampled_from(["m-small", "m-big"]))
    return body


@st.composite
def override_bodies(draw: st.DrawFn, denied: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    # `enabled: true` in a channel the use case denies is rejected at load time, so not generated.
    enabled = draw(st.sampled_from([None, False] if denied else [None, True, False]))
    if enabled is not None:
        body["enabled"] = enabled
    if draw(st.booleans()):
        body["model"] = draw(st.sampled_from(["m-small", "m-big", "m-channel"]))
    if draw(st.booleans()):
        body["redact_pii"] = draw(st.booleans())
    if (approval := draw(approvals)) is not None:
        body["approval"] = approval
    return body


@st.composite
def policy_data(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(USE_CASES), unique=True, max_size=3))
    use_cases = {name: draw(use_case_bodies()) for name in names}
    channels: dict[str, dict[str, Any]] = {}
    for channel in draw(channel_lists):
        for name in draw(st.lists(st.sampled_from(names), unique=True)) if names else []:
            denied = channel in use_cases[name]["deny_channels"]
            channels.setdefault(channel, {})[name] = draw(override_bodies(denied))
    return {"admins": ["U0ADMIN"], "groups": GROUPS, "use_cases": use_cases, "channels": channels}


def load(data: dict[str, Any]) -> Policy:
    return load_policy_text(yaml.safe_dump(data, sort_keys=False))


grant_lists = st.lists(
    st.builds(
        Grant,
        use_case=st.sampled_from([*USE_CASES, UNLISTED]),
        channel_id=st.sampled_from(CHANNELS),
        id=st.sampled_from(["G1", "G2", "G3"]),
        granted_by=st.just("U0ADMIN"),
    ),
    max_size=4,
)
questions = st.tuples(st.sampled_from([*USE_CASES, UNLISTED]), st.sampled_from(CHANNELS))


def without_hash(decision: Decision) -> Decision:
    return dataclasses.replace(decision, policy_hash="")


@settings(max_examples=150, deadline=None)
@given(policy_data(), questions, grant_lists)
def test_deny_wins_over_allow(
    data: dict[str, Any], question: tuple[str, str], grants: list[Grant]
) -> None:
    use_case, channel = question
    decision = resolve(load(data), "U1", use_case, channel, grants)
    body = data["use_cases"].get(use_case)
    override = data["channels"].get(channel, {}).get(use_case, {})
    if body is not None and (channel in body["deny_channels"] or override.get("enabled") is False):
        assert not decision.allowed
        assert decision.approval is None


@settings(max_examples=150, deadline=None)
@given(policy_data(), questions, grant_lists)
def test_unlisted_use_case_is_off(
    data: dict[str, Any], question: tuple[str, str], grants: list[Grant]
) -> None:
    _, channel = question
    policy = load(data)
    for name in [UNLISTED, *(n for n in USE_CASES if n not in data["use_cases"])]:
        every_grant = [*grants, Grant(name, channel, "G9", "U0ADMIN")]
        decision = resolve(policy, "U1", name, channel, every_grant)
        assert not decision.allowed
        assert decision.rule == f"use case '{name}' not in policy"


@settings(max_examples=150, deadline=None)
@given(policy_data(), st.sampled_from(CHANNELS), override_bodies(denied=True), grant_lists)
def test_channel_override_only_affects_its_channel(
    data: dict[str, Any], target: str, new_override: dict[str, Any], grants: list[Grant]
) -> None:
    if not data["use_cases"]:
        return
    name = sorted(data["use_cases"])[0]
    before = load(data)
    changed = dict(data, channels={k: dict(v) for k, v in data["channels"].items()})
    changed["channels"].setdefault(target, {})[name] = new_override
    after = load(changed)
    removed = dict(data, channels={k: v for k, v in data["channels"].items() if k != target})
    without = load(removed)
    for channel in CHANNELS:
        if channel == target:
            continue
        for use_case in [*USE_CASES, UNLISTED]:
            expected = without_hash(resolve(before, "U1", use_case, channel, grants))
            assert without_hash(resolve(after, "U1", use_case, channel, grants)) == expected
            assert without_hash(resolve(without, "U1", use_case, channel, grants)) == expected


@settings(max_examples=100, deadline=None)
@given(policy_data(), questions, grant_lists, st.randoms(use_true_random=False))
def test_resolution_is_deterministic(
    data: dict[str, Any], question: tuple[str, str], grants: list[Grant], rnd: random.Random
) -> None:
    use_case, channel = question
    first = resolve(load(data), "U1", use_case, channel, grants)
    shuffled = list(grants)
    rnd.shuffle(shuffled)
    again = resolve(load(data), "U1", use_case, channel, tuple(shuffled))
    assert first == again


@settings(max_examples=150, deadline=None)
@given(policy_data(), questions, grant_lists)
def test_allowed_exactly_when_the_rules_say(
    data: dict[str, Any], question: tuple[str, str], grants: list[Grant]
) -> None:
    """An independent statement of the rules: listed, not denied, and on (file or grant)."""
    use_case, channel = question
    decision = resolve(load(data), "U1", use_case, channel, grants)
    body = data["use_cases"].get(use_case)
    override = data["channels"].get(channel, {}).get(use_case, {})
    if body is None or channel in body["deny_channels"] or override.get("enabled") is False:
        expected = False
    else:
        expected = (
            override.get("enabled") is True
            or "*" in body["channels"]
            or channel in body["channels"]
            or any(g.use_case == use_case and g.channel_id == channel for g in grants)
        )
    assert decision.allowed is expected
    assert (decision.reason == "") is expected
    if expected:
        assert body is not None
        expected_model = override.get("model") or body.get("model") or "gpt-4o-mini"
        assert decision.model == expected_model


@settings(max_examples=150, deadline=None)
@given(policy_data(), questions, grant_lists)
def test_a_grant_only_affects_its_own_use_case_and_channel(
    data: dict[str, Any], question: tuple[str, str], grants: list[Grant]
) -> None:
    use_case, channel = question
    policy = load(data)
    elsewhere = [g for g in grants if (g.use_case, g.channel_id) != (use_case, channel)]
    without = resolve(policy, "U1", use_case, channel)
    assert resolve(policy, "U1", use_case, channel, elsewhere) == without


@settings(max_examples=150, deadline=None)
@given(policy_data(), questions)
def test_a_grant_enables_exactly_where_grantable_and_borrows_the_use_case_settings(
    data: dict[str, Any], question: tuple[str, str]
) -> None:
    use_case, channel = question
    policy = load(data)
    before = resolve(policy, "U1", use_case, channel)
    after = resolve(policy, "U1", use_case, channel, [Grant(use_case, channel, "G1", "U0ADMIN")])
    if grantable(policy, use_case, channel):
        assert not before.allowed and after.allowed
        assert after.rule == "granted request G1" and after.grant_id == "G1"
        body = data["use_cases"][use_case]
        override = data["channels"].get(channel, {}).get(use_case, {})
        assert after.model == (override.get("model") or body.get("model") or "gpt-4o-mini")
    else:
        assert after == before  # already on, denied, or unlisted: a grant changes nothing
