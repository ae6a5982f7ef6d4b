from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.governance.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 24h ", timedelta(hours=24)),
        ("0s", timedelta(0)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4", "h", "4 h", "4H", "1M", "-1h", "1.5h", "4hours", "1h1h"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(30)  # type: ignore[arg-type]


def test_format_is_canonical() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(hours=24)) == "1d"
    assert format_duration(timedelta(days=8, seconds=1)) == "1w1d1s"
    assert format_duration(timedelta(0)) == "0s"


def test_format_rejects_fractions_and_negatives() -> None:
    with pytest.raises(ValueError):
        format_duration(timedelta(milliseconds=1500))
    with pytest.raises(ValueError):
        format_duration(timedelta(seconds=-1))


@given(st.integers(min_value=0, max_value=10 * 365 * 86400))
def test_round_trip_from_timedelta(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


@given(st.dictionaries(st.sampled_from("wdhms"), st.integers(0, 500), min_size=1))
def test_round_trip_from_text(parts: dict[str, int]) -> None:
    text = "".join(f"{n}{u}" for u, n in parts.items())
    parsed = parse_duration(text)
    assert parse_duration(format_duration(parsed)) == parsed
