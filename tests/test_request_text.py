"""What `/steward request` reads from its text: use case, group, duration, purpose."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.governance.request_text import parse, shown


@pytest.mark.parametrize(
    ("text", "audience", "duration", "purpose"),
    [
        ("draft to draft the notes", None, None, "to draft the notes"),
        (
            "draft @Legal-Team for 30 days contract review",
            "@legal-team",
            timedelta(days=30),
            "contract review",
        ),
        (
            "summarize --group managers --for 2w the retro",
            "managers",
            timedelta(weeks=2),
            "the retro",
        ),
        ("summarize for 30d @eng the retro", "@eng", timedelta(days=30), "the retro"),
        ("draft for the launch", None, None, "for the launch"),  # not a duration: the purpose
        ("draft for 1 week", None, timedelta(weeks=1), ""),
    ],
)
def test_options_then_purpose(
    text: str, audience: str | None, duration: timedelta | None, purpose: str
) -> None:
    asked = parse(text)
    assert (asked.audience, asked.duration, asked.purpose, asked.problem) == (
        audience,
        duration,
        purpose,
        None,
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("draft --for 3 x", "`--for` takes a duration"),
        ("draft for 400 days x", "A grant lasts from a minute to 366 days."),
        ("draft @a @b x", "Ask for one group at a time."),
        ("draft for 2 days --for 3d x", "Say how long only once."),
        ("draft --group Not_A_Group x", "is not a user group"),
    ],
)
def test_bad_options_are_explained(text: str, problem: str) -> None:
    assert problem in (parse(text).problem or "")


def test_durations_are_shown_in_words() -> None:
    assert shown(timedelta(days=30)) == "30 days"
    assert shown(timedelta(weeks=2)) == "2 weeks"
    assert shown(timedelta(hours=1)) == "1 hour"
