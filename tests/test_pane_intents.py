"""The agent pane's intent parser: deterministic, and never a guess that runs a use case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.pane.intents import Intent, Viewing, parse

LAUNCH = Viewing(channel_id="C0LAUNCH", channel_name="launch")
IN_THREAD = Viewing(channel_id="C0LAUNCH", channel_name="launch", thread_ts="1732460219.000300")
LINK = "https://acme.slack.com/archives/C0LAUNCH/p1732460219000300"
DAY, WEEK = 86_400, 7 * 86_400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "summarise this channel",
            Intent(kind="summarize", channel_id="C0LAUNCH", window_seconds=DAY),
        ),
        ("Summarize here", Intent(kind="summarize", channel_id="C0LAUNCH", window_seconds=DAY)),
        (
            "what happened in #launch this week?",
            Intent(kind="summarize", channel_id="C0LAUNCH", window_seconds=WEEK),
        ),
        (
            "summarise <#C0GENERAL|general> last 3 days",
            Intent(kind="summarize", channel_id="C0GENERAL", window_seconds=3 * DAY),
        ),
        ("summarise #random", Intent(kind="summarize", channel_name="random", window_seconds=DAY)),
        (
            f"summarise {LINK}",
            Intent(kind="summarize", channel_id="C0LAUNCH", thread_ts="1732460219.000300"),
        ),
        (
            f"<{LINK}>",
            Intent(kind="summarize", channel_id="C0LAUNCH", thread_ts="1732460219.000300"),
        ),
        ("summarise this thread", Intent(kind="summarize", missing="thread")),
        (
            "draft a reply saying we ship Tuesday",
            Intent(kind="draft", channel_id="C0LAUNCH", text="we ship Tuesday"),
        ),
        ("Draft: hello team", Intent(kind="draft", channel_id="C0LAUNCH", text="hello team")),
        ("Draft a reply", Intent(kind="draft", channel_id="C0LAUNCH", missing="content")),
        ("who approves drafts here?", Intent(kind="approvers", channel_id="C0LAUNCH")),
        ("What may AI do in #launch?", Intent(kind="policy", channel_id="C0LAUNCH")),
        (
            "what did Dev decide about the export?",
            Intent(kind="ask", text="what did Dev decide about the export?"),
        ),
        ("who owns the status page?", Intent(kind="ask", text="who owns the status page?")),
        ("help", Intent(kind="help")),
        ("banana", Intent(kind="help")),
        ("", Intent(kind="help")),
    ],
)
def test_what_people_say(text: str, expected: Intent) -> None:
    assert parse(text, LAUNCH) == expected


def test_this_thread_is_the_thread_in_view() -> None:
    assert parse("summarise this thread", IN_THREAD) == Intent(
        kind="summarize", channel_id="C0LAUNCH", thread_ts="1732460219.000300"
    )


def test_nothing_in_view_means_the_channel_is_missing() -> None:
    assert parse("summarise this channel") == Intent(kind="summarize", missing="channel")
    assert parse("draft a reply saying hi") == Intent(kind="draft", text="hi", missing="channel")


def test_windows_stay_within_ninety_days() -> None:
    assert parse("summarise last 900 days", LAUNCH).window_seconds == 90 * DAY
    assert parse("summarise #launch since yesterday", LAUNCH).window_seconds == 2 * DAY


TRIGGERS = ("summar", "recap", "tl", "catch", "happened", "miss", "draft", "write", "compose")
TRIGGERS += ("help me", "archives", "sum up")


@given(st.text(max_size=300), st.sampled_from([None, LAUNCH, IN_THREAD]))
def test_any_text_parses_to_one_intent_the_same_way_twice(
    text: str, viewing: Viewing | None
) -> None:
    first = parse(text, viewing)
    assert first == parse(text, viewing)
    assert len(first.text) <= 2000
    if first.window_seconds is not None:
        assert 60 <= first.window_seconds <= 90 * DAY


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_no_use_case_runs_without_its_words(text: str) -> None:
    lowered = text.lower()
    kind = parse(text, LAUNCH).kind
    if kind == "summarize":
        assert any(t in lowered for t in TRIGGERS), text
    if kind == "draft":
        assert any(t in lowered for t in ("draft", "write", "compose")), text
