from __future__ import annotations

import pytest

from app.model.datamark import MARK
from app.summaries.summary import ModelOutputError, Summary, SummaryPoint, parse_model_output

IDS = {"M1": "1712000000.000100", "M2": "1712000001.000200", "M3": "1712000002.000300"}

GOOD = """{"gist": "Billing moves to Postgres.",
 "decisions": [{"text": "Use Postgres", "sources": ["M1", "M2"]}],
 "open_questions": [{"text": "Who migrates?", "sources": ["M3"]}],
 "action_items": [{"text": "Draft plan", "owner": "Ana", "sources": ["M2"]}]}"""


def test_parses_strict_json_and_maps_ids_to_ts() -> None:
    s = parse_model_output(GOOD, IDS, engine="openai", model="gpt-4o-mini")
    assert s.gist == "Billing moves to Postgres."
    assert s.decisions == [SummaryPoint(text="Use Postgres", sources=[IDS["M1"], IDS["M2"]])]
    assert s.open_questions[0].sources == [IDS["M3"]]
    assert s.action_items[0].owner == "Ana"
    assert (s.engine, s.model, s.dropped_sources) == ("openai", "gpt-4o-mini", 0)
    assert s.covered == (IDS["M1"], IDS["M3"])
    assert s.cited_ts() == [IDS["M1"], IDS["M2"], IDS["M3"]]


@pytest.mark.parametrize(
    "wrapper",
    [
        "```json\n{}\n```",
        "```\n{}\n```\nHope this helps!",
        "Here is the summary: {}  Let me know {{if}} you need more.",
        "{} trailing text with } braces",
    ],
)
def test_tolerates_fences_and_surrounding_text(wrapper: str) -> None:
    s = parse_model_output(wrapper.replace("{}", GOOD, 1), IDS)
    assert s.decisions[0].text == "Use Postgres"


def test_unknown_ids_are_dropped_and_counted_and_variants_resolve() -> None:
    raw = """{"gist": "g", "decisions": [
      {"text": "a", "sources": ["M1", "M99", "[M2]", "3", "m1", "M2, M7"]},
      {"text": "b", "sources": "M3"},
      {"text": "c", "sources": ["1712000000.000100", "1999999999.000000"]}]}"""
    s = parse_model_output(raw, IDS)
    assert s.decisions[0].sources == [IDS["M1"], IDS["M2"], IDS["M3"]]
    assert s.decisions[1].sources == [IDS["M3"]]
    assert s.decisions[2].sources == [IDS["M1"]]
    assert s.dropped_sources == 3  # M99, M7, the unknown ts


def test_lenient_shapes_strings_missing_sections_and_marks() -> None:
    raw = (
        '{"gist": "Weˆshipˆit", "open_questions": ["When?", ""], '
        '"action_items": [{"task": "Fix\\n  CI", "assignee": "Bo"}, {"text": null}]}'
    )
    s = parse_model_output(raw, IDS)
    assert s.gist == "We ship it"
    assert s.decisions == []
    assert s.open_questions == [SummaryPoint(text="When?")]
    assert s.action_items == [SummaryPoint(text="Fix CI", owner="Bo")]


def test_mark_constant_matches_datamark() -> None:
    assert MARK == "\u02c6"
    assert parse_model_output('{"gist": "a' + MARK + 'b"}', {}).gist == "a b"


@pytest.mark.parametrize(
    "raw",
    ["", "no json here", "[1, 2, 3]", '{"unrelated": true}', '{"gist": "unterminated'],
)
def test_invalid_output_raises_model_output_error(raw: str) -> None:
    with pytest.raises(ModelOutputError):
        parse_model_output(raw, IDS)


def test_empty_id_map_gives_no_covered_span() -> None:
    assert parse_model_output('{"gist": "x"}', {}).covered is None


def test_summary_round_trips_through_json_for_caching() -> None:
    s = parse_model_output(GOOD, IDS, model="m", truncated_note="covers the last 10,000 messages")
    again = Summary.model_validate_json(s.model_dump_json())
    assert again == s
    assert again.covered == s.covered
