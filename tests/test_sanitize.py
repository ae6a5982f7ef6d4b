from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.sanitize import LINK_REMOVED, links_in, normalize_link, sanitize_output

BROADCAST_RE = re.compile(
    r"<!(?:channel|here|everyone|subteam|group)|(?<!\w)[@＠](?:channel|here|everyone)\b", re.I
)
NAMES = {"U0ANA": "Ana", "U0BO": "Bo"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Heads up <!channel>!", "Heads up channel!"),
        ("<!here|here> and <!everyone>", "here and everyone"),
        ("ping @here and @Channel, @everyone.", "ping here and Channel, everyone."),
        ("cc <!subteam^S0123|@legal-team>", "cc legal-team"),
        ("cc <!subteam^S0123>", "cc a user group"),
        ("at <!date^1712000000^{date}|Apr 1>", "at Apr 1"),
        ("mail ana@here.com", "mail ana@here.com"),  # an address is not a broadcast
        ("in <#C0123|general>", "in <#C0123|general>"),
        ("a < b > c", "a &lt; b &gt; c"),
        ("@<!here> x", "here x"),  # splicing cannot recreate a ping
    ],
)
def test_pings_are_neutralised(text: str, expected: str) -> None:
    assert sanitize_output(text, set()) == expected


def test_user_mentions_become_names_with_a_resolver() -> None:
    text = "<@U0ANA> owns it, <@U0BO|bob> reviews, <@U0ZED|zed> helps, <@U0NONE> too"
    out = sanitize_output(text, set(), NAMES.get)
    assert out == "Ana owns it, Bo reviews, zed helps, U0NONE too"
    # without a resolver the mention stays (the label is untrusted text and is dropped)
    assert sanitize_output("<@U0BO|evil @here>", set()) == "<@U0BO>"


def test_links_not_in_the_sources_are_removed() -> None:
    allowed = {"https://docs.example.com/plan", "https://example.org"}
    text = (
        "See <https://docs.example.com/plan/|the plan>, <https://evil.example/x|docs>, "
        "<http://www.example.org>, https://evil.example/y. and www.phish.net, evil.com/login "
        "but not report.pdf or ana@example.com"
    )
    out = sanitize_output(text, allowed)
    assert out == (
        "See <https://docs.example.com/plan/|the plan>, docs [link removed], "
        "<http://www.example.org>, [link removed]. and [link removed], [link removed] "
        "but not report.pdf or ana@example.com"
    )


def test_link_label_is_sanitised_too() -> None:
    out = sanitize_output("<https://ok.example|@here https://bad.example>", {"https://ok.example"})
    assert out == f"<https://ok.example|here {LINK_REMOVED}>"


def test_mailto_links_need_to_be_allowed() -> None:
    assert sanitize_output("<mailto:a@b.co|a@b.co>", set()) == f"a@b.co {LINK_REMOVED}"
    assert sanitize_output("<mailto:a@b.co|a@b.co>", {"mailto:a@b.co"}) == "<mailto:a@b.co|a@b.co>"


def test_normalize_link_and_links_in() -> None:
    assert normalize_link("HTTPS://WWW.Example.com/Path/") == "example.com/Path"
    found = links_in(["read <https://a.example/x|this> and https://b.example/y.", "<@U1> <#C1|x>"])
    assert found == {"https://a.example/x", "https://b.example/y"}


slackish = st.sampled_from(
    [
        "<!channel>", "<!here>", "<!everyone>", "<!subteam^S1|@here>", "@here", "@channel",
        "＠everyone", "@", "<", ">", "!", "|", "<@U0ANA>", "<@U0BO|@channel>", "here", "channel",
        "https://evil.example", "<https://x.example|@here>", "<!date^1|@here>", "<!group>",
        " ", "@@", "<!", "&lt;",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(slackish, st.text(max_size=5))).map("".join))
def test_output_never_contains_a_broadcast_ping(text: str) -> None:
    for resolver in (None, NAMES.get):
        out = sanitize_output(text, set(), resolver)
        assert not BROADCAST_RE.search(out), out
        assert "evil.example" not in out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(slackish, st.text(max_size=5))).map("".join))
def test_sanitising_twice_changes_nothing_more(text: str) -> None:
    once = sanitize_output(text, set(), NAMES.get)
    assert not BROADCAST_RE.search(sanitize_output(once, set(), NAMES.get))
