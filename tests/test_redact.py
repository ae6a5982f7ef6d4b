from __future__ import annotations

import random
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.model.redact import Redactor, iban_is_valid, luhn_is_valid, redact

# --- generators for valid secrets ------------------------------------------------------------


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        if luhn_is_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


@st.composite
def cards(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.sampled_from("23456")) + "".join(
        draw(st.lists(st.sampled_from(string.digits), min_size=length - 2, max_size=length - 2))
    )
    number = _luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4)) if sep else number


_IBAN_COUNTRIES = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27}


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(_IBAN_COUNTRIES)))
    n = _IBAN_COUNTRIES[country] - 4
    bban = "".join(draw(st.lists(st.sampled_from(string.digits), min_size=n, max_size=n)))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    assert iban_is_valid(iban)
    spaced = draw(st.booleans())
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if spaced else iban


def _alnum(draw: st.DrawFn, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(draw(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n)))


@st.composite
def tokens(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        prefix = draw(st.sampled_from(["xoxb", "xoxp", "xoxa", "xoxr", "xoxs", "xoxo"]))
        return f"{prefix}-{draw(st.integers(10**9, 10**12))}-{_alnum(draw, 24)}"
    if kind == 1:
        return (
            f"xapp-1-A{_alnum(draw, 10, string.ascii_uppercase + string.digits)}-{_alnum(draw, 30)}"
        )
    if kind == 2:
        return draw(st.sampled_from(["sk-", "sk-proj-"])) + _alnum(draw, 40) + "7"
    if kind == 3:
        return draw(st.sampled_from(["AKIA", "ASIA"])) + _alnum(
            draw, 16, string.ascii_uppercase + string.digits
        )
    if kind == 4:
        return draw(st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])) + _alnum(draw, 36)
    if kind == 5:
        return "github_pat_" + _alnum(draw, 22) + "_" + _alnum(draw, 59)
    return "-----BEGIN PRIVATE KEY-----\n" + _alnum(draw, 64) + "\n-----END PRIVATE KEY-----"


@st.composite
def ssns(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    return f"{area:03d}-{draw(st.integers(1, 99)):02d}-{draw(st.integers(1, 9999)):04d}"


@st.composite
def phones(draw: st.DrawFn) -> str:
    a, b, c = draw(st.integers(200, 999)), draw(st.integers(200, 999)), draw(st.integers(0, 9999))
    return draw(
        st.sampled_from(
            [
                f"+1 {a} {b} {c:04d}",
                f"({a}) {b}-{c:04d}",
                f"{a}-{b}-{c:04d}",
                f"+44 20 {b}{c % 10} {c:04d}",
                f"020 {b}{c % 10} {c:04d}",
                f"+49 30 {b}{c:04d}",
            ]
        )
    )


emails = st.builds(
    lambda user, domain: f"{user}@{domain}.com",
    st.text(string.ascii_lowercase + ".", min_size=1, max_size=10).filter(
        lambda s: s[0] != "." and s[-1] != "."
    ),
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
)
secrets = st.one_of(cards(), ibans(), tokens(), ssns(), phones(), emails)
filler_words = st.sampled_from(
    ["the", "deploy", "is", "done", "please", "check", "Ana", "ok", "thanks", "<@U123ABC>", "—"]
)
separators = st.sampled_from([" ", "\n", ", ", " (", ") ", ": ", " — "])

SAFE_TEXT_TOKENS = [
    "we", "shipped", "v1.2.3", "on", "2024-05-01", "at", "10:30", "in", "2024", "Q3", "100%",
    "<@U123ABC>", "<@U0ABC|ana>", "<#C123|general>", "<https://example.com|link>",
    "<https://acme.slack.com/archives/C1/p1712345678123456|thread>", "1712345678.123456",
    "ts=1712345678.123456", "PR #4521", "issue 123", "3 cats", "12345", "+1", "ETA 2h",
    "https://zoom.us/j/4155552671", "<!here>", "<!subteam^S123|@team>", "sk-learn", "task-force",
    "AKIA", "x@y", "error 500", "ids 1 2 3 4 5 6 7 8 9 10 11 12 13 14", "1,000,000",
]  # fmt: skip


# --- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mail ana.lopez@example.co.uk now", "email"),
        ("call +1 (415) 555-2671", "phone"),
        ("call +44 20 7946 0958", "phone"),
        ("call 020 7946 0958", "phone"),
        ("call 415-555-2671", "phone"),
        ("appelle 06 12 34 56 78", "phone"),
        ("card 4111 1111 1111 1111", "card"),
        ("amex 3782-822463-10005", "card"),
        ("card 5500005555555559.", "card"),
        ("iban DE89 3704 0044 0532 0130 00", "iban"),
        ("iban GB82WEST12345698765432", "iban"),
        ("ssn 123-45-6789", "national_id"),
        ("NI AB 12 34 56 C", "national_id"),
        ("DNI 12345678Z", "national_id"),
        ("NIE X1234567L", "national_id"),
        ("NIR 2 55 08 14 168 025 38", "national_id"),
        ("token xoxb-123456789012-abcdefABCDEF", "slack_token"),
        ("token xapp-1-A0123456789-abcdefabcdef", "slack_token"),
        ("hook https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX", "slack_token"),
        ("key sk-proj-abc123DEF456ghi789jkl012", "openai_key"),
        ("key sk-abcdefghijklmnopqrstuvwxyz0123456789", "openai_key"),
        ("id AKIAIOSFODNN7EXAMPLE", "aws_key"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_key"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github_token"),
        ("gh github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_token"),
        ("-----BEGIN EC PRIVATE KEY-----\nb3Blbn\n-----END EC PRIVATE KEY-----", "private_key"),
    ],
)  # fmt: skip
def test_detects_each_kind(text: str, kind: str) -> None:
    result = redact(text)
    assert result.counts == {kind: 1}, result
    assert f"[{kind.upper()}_1]" in result.text


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "iban GB82 WEST 1234 5698 7654 33",  # mod-97 fails
        "ssn 000-12-3456 and 666-12-3456 and 900-12-3456 and 123-00-4567",  # invalid ranges
        "DNI 12345678A",  # wrong check letter
        "NI BG 12 34 56 C",  # excluded prefix
        "posted at 1712345678.123456 in 2024",
        "epoch ms 1712345678123",  # 13 digits that pass no issuer check
        "see <https://acme.slack.com/archives/C1/p1712345678123456|thread>",
        "join https://zoom.us/j/4155552671",
        "phone 12345 or 555-1234",  # too short to be a full number
        "<@U123ABC> <#C123|general> <!subteam^S123|@team>",
    ],
)
def test_leaves_lookalikes_alone(text: str) -> None:
    assert redact(text) == redact(text).__class__(text=text, counts={})


def test_same_value_same_placeholder_within_call() -> None:
    result = redact("a@x.com, b@x.com, A@X.com; 4111 1111 1111 1111 = 4111111111111111")
    assert result.text == "[EMAIL_1], [EMAIL_2], [EMAIL_1]; [CARD_1] = [CARD_1]"
    assert result.counts == {"email": 3, "card": 2}


def test_redactor_numbers_consistently_across_messages_and_sums_counts() -> None:
    redactor = Redactor()
    first = redactor.redact("mail ana@example.com or bo@example.com")
    second = redactor.redact("ping bo@example.com, key AKIAIOSFODNN7EXAMPLE")
    assert first == "mail [EMAIL_1] or [EMAIL_2]"
    assert second == "ping [EMAIL_2], key [AWS_KEY_1]"
    assert redactor.counts == {"email": 3, "aws_key": 1}
    assert redactor.total == 4


def test_secret_inside_url_is_redacted_but_url_digits_are_not() -> None:
    text = "<https://x.example/cb?token=xoxb-123456789012-abcdefABCDEF&id=4111111111111111|cb>"
    out = redact(text).text
    assert "xoxb-" not in out
    assert "4111111111111111" in out  # numeric ids inside URLs are not card numbers
    assert out.startswith("<https://x.example/cb?token=[SLACK_TOKEN_1]")


def test_whole_pem_block_is_one_placeholder_even_unterminated() -> None:
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nxyz+/=="
    assert redact(text).text == "key:\n[PRIVATE_KEY_1]"


def test_iban_followed_by_upper_case_word() -> None:
    assert redact("DE89 3704 0044 0532 0130 00 TODO").text == "[IBAN_1] TODO"


def test_mailto_markup_keeps_its_shape() -> None:
    out = redact("<mailto:ana@example.com|ana@example.com>").text
    assert out == "<mailto:[EMAIL_1]|[EMAIL_1]>"


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(filler_words, separators, secrets, separators), min_size=1, max_size=5))
def test_no_planted_secret_survives(parts: list[tuple[str, str, str, str]]) -> None:
    text = "".join(a + b + c + d for a, b, c, d in parts) + "end"
    out = redact(text).text
    for _, _, secret, _ in parts:
        assert secret not in out, (secret, out)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_idempotent_and_never_crashes_on_any_unicode(text: str) -> None:
    once = redact(text).text
    assert redact(once).text == once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(secrets, filler_words, st.sampled_from(SAFE_TEXT_TOKENS))), separators)
def test_idempotent_on_mixed_text(words: list[str], sep: str) -> None:
    once = redact(sep.join(words)).text
    assert redact(once) == redact(once).__class__(text=once, counts={})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SAFE_TEXT_TOKENS), max_size=12), separators)
def test_text_without_pii_is_unchanged(words: list[str], sep: str) -> None:
    text = sep.join(words)
    assert redact(text).text == text


def test_a_long_thread_is_redacted_message_by_message() -> None:
    # How long it takes is measured by bench/micro.py, not asserted here.
    rng = random.Random(7)
    words = [*SAFE_TEXT_TOKENS, "ana@example.com", "4111 1111 1111 1111", "+44 20 7946 0958"]
    texts = [" ".join(rng.choices(words, k=20)) for _ in range(2000)]
    redactor = Redactor()
    cleaned = [redactor.redact(text) for text in texts]
    assert not any("ana@example.com" in t or "4111 1111 1111 1111" in t for t in cleaned)


def test_unicode_digits_are_detected_and_share_placeholders() -> None:
    result = redact(
        "call ４１５-５５５-２６７１, card ４１１１ １１１１ １１１１ １１１１ = 4111111111111111"
    )
    assert result.text == "call [PHONE_1], card [CARD_1] = [CARD_1]"


def test_labels_of_slack_entities_are_scanned_but_ids_are_not() -> None:
    out = redact("<@U0ANA|ana@example.com> in <#C0123|general> <!subteam^S0AB12|@ops>").text
    assert out == "<@U0ANA|[EMAIL_1]> in <#C0123|general> <!subteam^S0AB12|@ops>"


def test_redact_messages_returns_redacted_copies_in_order() -> None:
    from app.slack.messages import SourceMessage

    messages = [
        SourceMessage("1.000001", "U1", "Ana", "mail bo@example.com"),
        SourceMessage("1.000002", "U2", "Bo", "it is bo@example.com or cy@example.com"),
    ]
    redactor = Redactor()
    out = redactor.redact_messages(messages)
    assert [m.text for m in out] == ["mail [EMAIL_1]", "it is [EMAIL_1] or [EMAIL_2]"]
    assert [m.ts for m in out] == ["1.000001", "1.000002"]
    assert out[0].user_name == "Ana" and messages[0].text == "mail bo@example.com"
    assert redactor.counts == {"email": 3}
