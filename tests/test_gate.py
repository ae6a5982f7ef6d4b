"""The gate's own form reader: it must read every form exactly as the standard library does,
since Bolt (which uses parse_qs) reads the same body again in the worker."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from hypothesis import given
from hypothesis import strategies as st

from handlers.gate import parse_form


def standard(body: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_an_encoded_form_reads_as_parse_qs_reads_it(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs)
    assert parse_form(body) == standard(body)


@given(st.text(alphabet="ab=&%+2Fc;é ", max_size=40))
def test_any_body_reads_as_parse_qs_reads_it(body: str) -> None:
    assert parse_form(body) == standard(body)


def test_a_slash_command_form() -> None:
    form = parse_form("command=%2Fsteward&text=help+me&team_id=T1&text=again")
    assert form == {"command": "/steward", "text": "again", "team_id": "T1"}


@given(st.lists(st.tuples(st.sampled_from(["payload", "team_id", "text", "c"]), st.text())))
def test_reading_only_some_fields_reads_them_as_parse_qs_does(
    pairs: list[tuple[str, str]],
) -> None:
    body = urlencode(pairs)
    wanted = frozenset({"payload", "team_id"})
    expected = {k: v for k, v in standard(body).items() if k in wanted}
    assert parse_form(body, wanted) == expected
