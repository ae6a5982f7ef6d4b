from __future__ import annotations

import pytest

from app.slack.messages import SourceMessage
from app.summaries.grounding import content_terms, label_for, score, support
from app.summaries.offline_engine import summarize_offline
from app.summaries.summary import Summary, SummaryPoint

MSGS = [
    SourceMessage("1712000000.000100", "U1", "Ana", "We decided to migrate billing to Postgres."),
    SourceMessage("1712000001.000100", "U2", "Bo", "I'll write the migration runbook by Friday."),
    SourceMessage("1712000002.000100", "U3", "Cy", "Do we need read replicas from day one?"),
]
SOURCES = {m.ts: m for m in MSGS}
TS = [m.ts for m in MSGS]


def summary(
    *points: tuple[str, str, list[str]], gist: str = "Billing moves to Postgres."
) -> Summary:
    sections: dict[str, list[SummaryPoint]] = {
        "decisions": [],
        "open_questions": [],
        "action_items": [],
    }
    for section, text, sources in points:
        sections[section].append(SummaryPoint(text=text, sources=sources))
    return Summary(gist=gist, engine="openai", model="m", **sections)


SUPPORTED = summary(
    ("decisions", "Billing is migrating to Postgres", [TS[0]]),
    ("action_items", "Bo writes the migration runbook by Friday", [TS[1]]),
    ("open_questions", "Are read replicas needed from day one?", [TS[2]]),
)
FABRICATED = summary(
    ("decisions", "Leadership approved a budget cut of 40% for Q3 hiring", [TS[0]]),
    ("action_items", "Dana will rewrite the mobile app in Rust", [TS[1]]),
    ("open_questions", "Is the London office closing next spring?", [TS[2]]),
)


def test_supported_summary_scores_high() -> None:
    c = score(SUPPORTED, SOURCES)
    assert c.label == "High" and c.value >= 0.9
    assert c.citation_validity == 1.0 and c.unsupported_points == 0
    assert c.logprob_score is None and c.points == 3


def test_fabricated_points_with_real_citations_score_low() -> None:
    c = score(FABRICATED, SOURCES)
    assert c.label == "Low"
    assert c.grounding < 0.2
    assert c.unsupported_points == 3
    assert c.citation_validity == 1.0  # the ids exist; the text does not back the claims


def test_nonexistent_and_missing_citations_are_penalised() -> None:
    s = summary(
        ("decisions", "Billing is migrating to Postgres", [TS[0], "1999999999.000000"]),
        ("action_items", "Bo writes the migration runbook by Friday", []),
    )
    c = score(s, SOURCES)
    assert c.invalid_citations == 1 and c.uncited_points == 1
    assert c.citation_validity == pytest.approx(1 / 3, abs=1e-3)
    assert c.point_scores == [1.0, 0.0]  # an uncited point cannot be supported
    assert c.label == "Low"


def test_partially_supported_is_medium() -> None:
    s = summary(
        ("decisions", "Billing is migrating to Postgres", [TS[0]]),
        ("action_items", "Dana will rewrite the mobile app in Rust", [TS[1]]),
    )
    c = score(s, SOURCES)
    assert c.label == "Medium", c


def test_logprobs_move_the_score() -> None:
    confident = score(SUPPORTED, SOURCES, logprobs=[-0.01, -0.02, 0.0])
    unsure = score(SUPPORTED, SOURCES, logprobs=[-2.5, -3.0, -1.8])
    assert confident.logprob_score is not None and confident.logprob_score > 0.97
    assert unsure.logprob_score is not None and unsure.logprob_score < 0.2
    assert unsure.value < score(SUPPORTED, SOURCES).value < 1.0 + 1e-9
    assert unsure.label != "High" and confident.label == "High"
    assert score(SUPPORTED, SOURCES, logprobs=[]).logprob_score is None


def test_offline_summaries_are_grounded_but_never_high() -> None:
    """Quotes are grounded by construction, so grounding cannot be the offline engine's
    confidence: it is how clearly the quotes are what they are filed as, and never High."""
    c = score(summarize_offline(MSGS), SOURCES)
    assert c.grounding == 1.0 and c.label == "Medium"
    assert c.basis is not None and c.basis.startswith("extractive")


def test_offline_confidence_drops_when_the_cues_are_mixed() -> None:
    clear = [SourceMessage(ts="1.1", user_id="U1", user_name="Ana", text="We decided: Postgres.")]
    mixed = [
        SourceMessage(
            ts="1.1", user_id="U1", user_name="Ana", text="I'll check: have we decided on it?"
        )
    ]
    sure = score(summarize_offline(clear), {m.ts: m for m in clear})
    unsure = score(summarize_offline(mixed), {m.ts: m for m in mixed})
    assert unsure.value < sure.value


def test_gist_only_summary_is_checked_against_all_sources() -> None:
    assert score(summary(gist="Billing migrates to Postgres"), SOURCES).label == "High"
    assert score(summary(gist="The office moves to Lisbon"), SOURCES).label == "Low"


def test_placeholders_and_markup_are_not_counted_as_claims() -> None:
    assert content_terms("Email [EMAIL_1] to <@U123> about <https://x.example|the plan>") == {
        "email",
        "plan",
    }
    assert support("[EMAIL_1]", MSGS[:1]) == 1.0


@pytest.mark.parametrize(
    ("value", "label"), [(0.75, "High"), (0.7499, "Medium"), (0.5, "Medium"), (0.49, "Low")]
)
def test_thresholds(value: float, label: str) -> None:
    assert label_for(value) == label
