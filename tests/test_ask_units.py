"""Pure logic of `ask`: selecting the relevant messages, reading a streamed answer, releasing it
safely, the offline engine's answer, the answer contract and its grounding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ask.answer import NOT_IN_MESSAGES, AskOutput, resolve_sources
from app.ask.engine import finish, prepare
from app.ask.offline import answer_offline
from app.ask.request import parse_ask_args
from app.ask.selection import bm25_scores, select
from app.ask.streamed import AnswerField, SafeText
from app.model.datamark import boundary_line
from app.model.sanitize import sanitize_output
from app.model.structured import read_answer
from app.model.tokens import count_tokens
from app.slack.messages import SourceMessage
from app.summaries.targets import TargetError

FILLER = [
    "Standup notes: nothing blocking on the mobile app today.",
    "Lunch order is in, tacos again.",
    "Reminder to fill in the quarterly survey by the end of the week.",
    "The staging cluster was restarted overnight, all green now.",
]


def message(i: int, text: str, user: str = "Ana Lopez") -> SourceMessage:
    return SourceMessage(
        ts=f"17000{i:05d}.000100",
        user_id=f"U{i % 7}",
        user_name=user,
        text=text,
        permalink=f"https://acme.slack.com/archives/C1/p17000{i:05d}000100",
    )


def long_thread(size: int = 3000, needle_at: int = 1777) -> list[SourceMessage]:
    out = [message(0, "Kick-off thread for the Insights 3.0 launch.")]
    for i in range(1, size):
        if i == needle_at:
            out.append(message(i, "Decision: the CSV export moves to release 3.1.", "Dev Patel"))
        elif i == needle_at + 1:
            out.append(message(i, "Agreed, I'll tell the two customers.", "Sam Ortiz"))
        else:
            out.append(message(i, FILLER[i % len(FILLER)], "Bo Chen"))
    return out


def render(m: SourceMessage) -> str:
    return boundary_line(m, "M1")


# ---- selection ---------------------------------------------------------------------------------


def test_a_short_conversation_is_sent_whole() -> None:
    messages = long_thread(20, needle_at=10)
    chosen = select("what happened to the CSV export?", messages, render)
    assert chosen.whole and list(chosen.messages) == messages


def test_a_long_conversation_sends_the_relevant_messages_within_the_budget() -> None:
    messages = long_thread()
    chosen = select("what was decided about the CSV export?", messages, render, budget_tokens=600)
    assert not chosen.whole and chosen.tokens <= 600
    texts = [m.text for m in chosen.messages]
    assert "Decision: the CSV export moves to release 3.1." in texts
    assert "Agreed, I'll tell the two customers." in texts  # its neighbour: the reply to it
    assert chosen.messages[0] == messages[0]  # the root is always kept
    order = [messages.index(m) for m in chosen.messages]
    assert order == sorted(order)  # conversation order
    real = sum(count_tokens(render(m)) + 1 for m in chosen.messages)
    assert real == chosen.tokens


def test_selection_is_deterministic() -> None:
    messages = long_thread()
    first = select("CSV export decision", messages, render, budget_tokens=800)
    again = select("CSV export decision", list(messages), render, budget_tokens=800)
    assert first == again


def test_bm25_prefers_the_rare_term() -> None:
    messages = [message(1, "export export export"), message(2, "the csv export")]
    scores = bm25_scores("csv export", messages)
    assert scores[1] > scores[0]


def test_prepare_redacts_the_question_and_numbers_the_whole_conversation() -> None:
    messages = long_thread(30, needle_at=20)
    prepared = prepare("mail ana@example.com about the CSV export?", messages, redact=True)
    assert "ana@example.com" not in prepared.prompt.user and "[EMAIL_1]" in prepared.question
    assert prepared.id_to_ts["M21"] == messages[20].ts  # ids of the whole conversation
    assert "<<question k=" in prepared.prompt.user


# ---- reading a streamed answer -----------------------------------------------------------------

ANSWERS = [
    {"answered": True, "answer": 'Dev said "ship" \\ then\nleft ☕ 😀 é', "sources": ["M3"]},
    {"answered": False, "answer": "", "sources": []},
]


@pytest.mark.parametrize("data", ANSWERS)
@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
@settings(max_examples=60, deadline=None)
def test_the_answer_field_decodes_whatever_the_split(
    data: dict[str, object], cuts: list[int]
) -> None:
    raw = json.dumps(data, ensure_ascii=bool(cuts and cuts[0] % 2))
    points = sorted({c % (len(raw) + 1) for c in cuts})
    field = AnswerField()
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    text = "".join(field.feed(piece) for piece in pieces)
    assert text == data["answer"] and field.done
    assert field.answered is data["answered"]


@given(
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=10),
    text=st.sampled_from(
        [
            "ping <!channel> now and @here too, see <https://evil.zip/x|the doc> or evil.zip",
            "Dev owns it <@U1> <!subteam^S1|@eng> @everyone ok",
        ]
    ),
)
@settings(max_examples=80, deadline=None)
def test_released_text_never_pings_whatever_the_split(cuts: list[int], text: str) -> None:
    safe = SafeText(allowed_links=[], resolve_user=lambda uid: "Dev")
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    out = "".join(safe.feed(p) for p in pieces) + safe.flush()
    for ping in ("<!channel>", "<!here>", "<!everyone>", "@here", "@everyone", "@channel"):
        assert ping not in out
    assert "evil.zip" not in out
    assert out == safe.shown == sanitize_output(text, [], lambda uid: "Dev")


# ---- the offline engine ------------------------------------------------------------------------


def test_offline_answers_with_the_best_matching_message() -> None:
    messages = long_thread(200, needle_at=120)
    found = answer_offline("what was decided about the CSV export?", messages)
    assert found.answered and found.sources == [messages[120].ts]
    assert "CSV export moves to release 3.1" in found.text and found.engine == "offline"


def test_offline_says_the_messages_dont_say_below_the_threshold() -> None:
    messages = long_thread(200, needle_at=120)
    found = answer_offline("what is the catering budget?", messages)
    assert not found.answered and found.text == NOT_IN_MESSAGES and found.sources == []


# ---- the answer contract and grounding ---------------------------------------------------------


def test_answers_without_a_schema_are_read_tolerantly() -> None:
    raw = 'Sure! ```json\n{"text": "Dev owns it.", "citations": "M2, M3"}\n```'
    output = read_answer(raw, AskOutput)
    assert output.answered and output.sources == ["M2, M3"]
    assert resolve_sources(output.sources, {"M2": "1.1", "M3": "1.2"}) == (["1.1", "1.2"], 0)
    assert resolve_sources(["M9", "[2]"], {"M2": "1.1"}) == (["1.1"], 1)


def test_an_answer_its_citations_do_not_support_is_refused() -> None:
    messages = long_thread(30, needle_at=20)
    prepared = prepare("what was decided about the CSV export?", messages, redact=False)
    cited_wrong = AskOutput(answered=True, answer="The export ships in March.", sources=["M3"])
    answer, confidence = finish(cited_wrong, prepared, messages, "m", None, None)
    assert not answer.answered and answer.unsupported and answer.text == NOT_IN_MESSAGES
    assert confidence is not None and confidence.unsupported_points == 1
    honest = AskOutput(
        answered=True, answer="Dev Patel: the CSV export moves to release 3.1.", sources=["M21"]
    )
    answer, confidence = finish(honest, prepared, messages, "m", None, None)
    assert answer.answered and answer.sources == [messages[20].ts]
    assert confidence is not None and confidence.label == "High"


def test_an_uncited_answer_is_refused_and_pings_are_removed() -> None:
    messages = long_thread(30, needle_at=20)
    prepared = prepare("csv export?", messages, redact=False)
    uncited = AskOutput(answered=True, answer="CSV export moves <!channel>", sources=[])
    answer, _ = finish(uncited, prepared, messages, "m", None, None)
    assert not answer.answered and answer.unsupported
    pinged = AskOutput(answered=True, answer="CSV export moves to 3.1 <!here>", sources=["M21"])
    answer, _ = finish(pinged, prepared, messages, "m", None, None)
    assert answer.answered and "<!here>" not in answer.text


# ---- what people type --------------------------------------------------------------------------


def test_ask_arguments() -> None:
    link = "https://acme.slack.com/archives/C0LAUNCH/p1700000000000100"
    target, question = parse_ask_args(f"<{link}> who owns   it?", "C0GEN")
    assert (target.channel_id, target.thread_ts, question) == (
        "C0LAUNCH",
        "1700000000.000100",
        "who owns it?",
    )
    target, question = parse_ask_args("<#C0LAUNCH|launch> 3d what shipped?", "C0GEN")
    assert (target.channel_id, target.window_seconds, question) == (
        "C0LAUNCH",
        259200,
        "what shipped?",
    )
    target, question = parse_ask_args("what shipped?", "C0GEN")
    assert (target.channel_id, target.window_seconds) == ("C0GEN", 86400)
    for bad in ("", f"{link}", "#nowhere what?", "<#C0LAUNCH|launch> 200d what?", "x" * 1001):
        with pytest.raises(TargetError):
            parse_ask_args(bad, "C0GEN")
