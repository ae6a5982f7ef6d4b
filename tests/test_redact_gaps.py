"""Redaction gaps found by attack (issue 12): more token kinds and number shapes, values hidden by
zero-width characters, NFKC look-alikes or a line break, PII in display names, and the property
that planted values never survive while benign text is left alone."""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.drafts.store import Drafts
from app.model.redact import Redactor, redact
from app.slack.messages import SourceMessage
from tests.e2e import Stack, running_stack
from tests.test_e2e_draft import interaction_of, new_draft, write_policy
from tests.test_redact import cards, ibans

ZW = "\u200b"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFuYSJ9."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
OPENAI = "sk-proj-abc123DEF456ghi789jkl012mno345"
AWS_ID, AWS_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("text", "kind", "gone"),
    [
        ("cookie xoxc-1234567890-abcdefABCDEF1234", "slack_token", "xoxc-"),
        ("cookie d=xoxd-aBcD%2FeFgH%3D1234567890", "slack_token", "xoxd-"),
        ("call 4155550199 today", "phone", "4155550199"),
        ("call 14155550199", "phone", "4155550199"),
        ("ssn 219 09 9999", "national_id", "219 09 9999"),
        ("ssn 078051120.", "national_id", "078051120"),
        ("iban de89 3704 0044 0532 0130 00", "iban", "3704"),
        ("iban gb82west12345698765432", "iban", "west1234"),
        ("card 4111 1111\n1111 1111", "card", "1111"),
        ("card 41111111\n11111111 ok", "card", "41111111"),
        (f"card 4111{ZW}1111{ZW}1111{ZW}1111", "card", "4111"),
        (f"mail ana{ZW}.lopez@exam\u200dple.com", "email", "lopez"),
        ("mail ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email", "ａｎａ"),
        ("mail ana.lopez@acme.\ncom", "email", "lopez"),
        ("mail ana.lopez@\nacme.com", "email", "lopez"),
        ("mail ana.lopez\n@acme.com", "email", "lopez"),
        (f"key {OPENAI[:11]}{ZW}{OPENAI[11:]}", "openai_key", "sk-proj"),
        (f"key {OPENAI[:14]}\n{OPENAI[14:]}", "openai_key", OPENAI[14:]),
        ("stripe sk_live_51HqLyjWDarjtT1zdp7dcXHGe", "stripe_key", "sk_live_"),
        ("stripe rk_live_51HqLyjWDarjtT1zdp7dcXHGe", "stripe_key", "rk_live_"),
        ("maps AIzaSyA1234567890abcdefghijklmnopqrstuv", "google_key", "AIza"),
        (f"auth: Bearer {JWT}", "jwt", "eyJ"),
        ("db password: hunter2!", "secret", "hunter2"),
        ('"client_secret": "s3cr3t-v4lue"', "secret", "s3cr3t"),
        ("SECRET=abc123xyz", "secret", "abc123xyz"),
        (f"id {AWS_ID}\nkey {AWS_SECRET}", "aws_key", "wJalrX"),
    ],
)
def test_each_gap_is_closed(text: str, kind: str, gone: str) -> None:
    result = redact(text)
    assert kind in result.counts, result
    assert gone not in result.text, result.text
    assert f"[{kind.upper()}_1]" in result.text


def test_text_around_a_hidden_value_is_kept_exactly() -> None:
    text = f"écrire à ana{ZW}@example.com — merci 🙏"
    assert redact(text).text == "écrire à [EMAIL_1] — merci 🙏"


def test_a_line_break_after_an_address_does_not_join_the_next_line() -> None:
    assert redact("mail ana@acme.com\nThanks!").text == "mail [EMAIL_1]\nThanks!"
    assert redact("mail ana@acme.com.\nThanks!").text == "mail [EMAIL_1].\nThanks!"


def test_the_aws_secret_needs_its_key_id_nearby() -> None:
    assert redact(f"hash {AWS_SECRET}").text == f"hash {AWS_SECRET}"


def test_display_names_are_redacted_too() -> None:
    messages = [
        SourceMessage("1.000001", "U1", "Ana (ana@acme.com)", "hi"),
        SourceMessage("1.000002", "U2", "Bo +1 415 555 2671", "mail ana@acme.com"),
        SourceMessage("1.000003", "U3", "Cy", "ok"),
    ]
    redactor = Redactor()
    out = redactor.redact_messages(messages)
    assert [m.user_name for m in out] == ["Ana ([EMAIL_1])", "Bo [PHONE_1]", "Cy"]
    assert out[1].text == "mail [EMAIL_1]"
    assert redactor.counts == {"email": 2, "phone": 1}


@pytest.mark.parametrize(
    "text",
    [
        "Meeting 2024-05-12 at 10:30, then 14:05:33 UTC; due 12/05/2024 or 05.12.2024",
        "Release v1.2.3 (build 2024.05.12), python 3.12.4, node 20.11.1",
        "It costs $1,299.00 or €3.99 (19.5% off), 1,000,000 users, 3.5x faster",
        "PR #4521, issue 123, order 12345678, ticket 1234567, ts 1712345678.123456",
        "password reset flow is done; the secret sauce is testing",
        "sk-learn and the token bucket; eyJ is how JWTs start",
        "list:\n- item one\n- item 2\n1. first\n2. second",
    ],
)
def test_benign_text_is_left_alone(text: str) -> None:
    assert redact(text).text == text


# --- properties ------------------------------------------------------------------------------

BENIGN = [
    "2024-05-12", "12/05/2024", "10:30", "14:05:33", "v1.2.3", "3.12.4", "$1,299.00", "€3.99",
    "19.5%", "Q3", "3.5x", "PR #4521", "issue 123", "12345", "ok", "thanks", "the", "deploy",
    "e.g.", "i.e.", "12:00pm", "2h", "1.5M", "100ms", "10-15", "2024",
]  # fmt: skip
ALPHABET = string.ascii_letters + " .,;:!?()'\"éßü中🙂"
seps = st.sampled_from([" ", "\n", ", ", " (", ") ", ": ", "\n\n"])


def _compact(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s", "", "".join(c for c in text if unicodedata.category(c) != "Cf"))


@st.composite
def planted(draw: st.DrawFn) -> str:
    """A secret as people paste it: plain, broken by a zero-width character, or wrapped."""
    kind = draw(st.integers(0, 7))
    rand = draw(st.text(string.ascii_letters + string.digits, min_size=40, max_size=40))
    if kind == 0:
        value = draw(cards())
    elif kind == 1:
        value = draw(ibans())
    elif kind == 2:
        value = draw(st.sampled_from(["ana.lopez", "bo", "cy.d"])) + "@acme-corp.example.com"
    elif kind == 3:
        value = "sk-proj-" + rand + "7"
    elif kind == 4:
        value = "sk_live_" + rand
    elif kind == 5:
        value = "AIza" + (rand + "_-abc")[:35]
    elif kind == 6:
        value = draw(st.sampled_from(["xoxc-", "xoxd-", "xoxb-"])) + "1234567890-" + rand[:20]
    else:
        value = draw(st.sampled_from(["219 09 9999", "078051120", "4155550199", "219-09-9999"]))
    how = draw(st.sampled_from(["plain", "zero-width", "wrapped"]))
    if how == "zero-width" and len(value) > 2:
        at = draw(st.integers(1, len(value) - 1))
        value = value[:at] + draw(st.sampled_from([ZW, "\u200c", "\u2060", "\ufeff"])) + value[at:]
    elif how == "wrapped":
        if "@" in value:
            value = value.replace("@", "@\n", 1)
        elif value.startswith(("sk", "AIza", "xox")):
            at = draw(st.integers(12, len(value) - 4))
            value = value[:at] + "\n" + value[at:]
        elif kind == 0 and " " in value:
            value = value.replace(" ", "\n", 1)
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.text(ALPHABET, max_size=12), seps, planted(), seps), min_size=1, max_size=4
    )
)
def test_planted_values_in_random_text_are_always_removed(
    parts: list[tuple[str, str, str, str]],
) -> None:
    text = "".join(a + b + c + d for a, b, c, d in parts) + "end"
    out = _compact(redact(text).text)
    for _, _, secret, _ in parts:
        assert _compact(secret) not in out, (secret, out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(BENIGN), max_size=12), seps)
def test_dates_versions_prices_and_times_are_never_redacted(words: list[str], sep: str) -> None:
    text = sep.join(words)
    assert redact(text).text == text


def test_a_date_after_digit_lines_is_not_a_card() -> None:
    # Found by the property above: "2024 12345 2024-05" passes Luhn with its short last group.
    text = "2024\n12345\n2024-05-12"
    assert redact(text).text == text


def test_years_between_dates_are_not_a_card() -> None:
    # Found by the property above: "2024 2024 2024 12" between two slashes passes Luhn.
    text = "12/05/2024 2024 2024 12/05/2024"
    assert redact(text).text == text


# --- what Steward keeps ----------------------------------------------------------------------


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


async def test_the_draft_request_is_kept_redacted_in_the_audit_and_the_draft(
    stack: Stack,
) -> None:
    what = f"tell ana.lopez@acme.com her key {OPENAI} works, call 4155550199"
    draft = await new_draft(stack, what)
    interaction = interaction_of(draft)
    trail = await stack.runtime.services.audit.events_for(interaction)
    asked = next(e for e in trail if e.event == "requested").extra["request"]
    record = await Drafts(stack.runtime.services.redis).get(interaction)
    assert record is not None
    for kept in (asked, record.record.request):
        assert "ana.lopez" not in kept and OPENAI not in kept and "4155550199" not in kept
        assert "[EMAIL_1]" in kept and "[OPENAI_KEY_1]" in kept and "[PHONE_1]" in kept
    stored = json.dumps([e.model_dump(mode="json") for e in trail])
    assert "ana.lopez@acme.com" not in stored and OPENAI not in stored
