"""How a summary looks in Slack: the private result, the shared post and the "Why?" modal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from app.slack import blocks as bk
from app.slack.messages import SourceMessage
from app.slack.mrkdwn import escape
from app.summaries.grounding import Confidence
from app.summaries.summary import Summary, SummaryPoint

SECTION_TITLES = {
    "decisions": "Decisions",
    "open_questions": "Open questions",
    "action_items": "Action items",
}
CAUTION = (
    ":warning: *Low confidence* — some points are weakly supported by the messages they cite. "
    "Check the linked messages before relying on this summary."
)


def _citations(point: SummaryPoint, links: Mapping[str, str | None]) -> str:
    marks = []
    for n, ts in enumerate(point.sources[:5], 1):
        url = links.get(ts)
        marks.append(f"<{url}|[{n}]>" if url else f"[{n}]")
    return " ".join(marks)


def _point_line(point: SummaryPoint, links: Mapping[str, str | None]) -> str:
    owner = f" — _{point.owner}_" if point.owner else ""
    return f"• {point.text}{owner} {_citations(point, links)}".rstrip()


def as_markdown(summary: Summary, links: Mapping[str, str | None]) -> str:
    """The summary as Slack mrkdwn: gist, then the non-empty sections with cited points."""
    parts = [f"*{summary.gist}*" if summary.gist else "_No gist._"]
    for section, title in SECTION_TITLES.items():
        points: list[SummaryPoint] = getattr(summary, section)
        if points:
            parts.append(f"*{title}*\n" + "\n".join(_point_line(p, links) for p in points))
    if summary.truncated_note:
        parts.append(f"_{summary.truncated_note}_")
    return "\n\n".join(parts)


def as_plain_text(summary: Summary) -> str:
    """The summary without links, for the audit trail and notifications."""
    lines = [summary.gist]
    for section, title in SECTION_TITLES.items():
        for point in getattr(summary, section):
            owner = f" (owner: {point.owner})" if point.owner else ""
            lines.append(f"{title}: {point.text}{owner} [{', '.join(point.sources)}]")
    return "\n".join(lines)


def confidence_line(confidence: Confidence) -> str:
    return f"Confidence: *{confidence.label}* ({confidence.value:.2f})"


def engine_label(engine: str, model: str) -> str:
    return "offline engine" if engine == "offline" else f"model {model}"


def describe_span(messages: Sequence[SourceMessage]) -> str:
    first, last = _when(messages[0].ts), _when(messages[-1].ts)
    return f"{len(messages)} messages, {first} → {last} UTC"


def _when(ts: str) -> str:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%d %b %H:%M")
    except ValueError:
        return ts


def _summary_body(
    heading: str, summary: Summary, confidence: Confidence, links: Mapping[str, str | None]
) -> list[Block]:
    """Heading, the cited summary, and a caution when confidence is low."""
    body: list[Block] = [bk.section(heading), *bk.sections(as_markdown(summary, links))]
    if confidence.label == "Low":
        body.append(bk.section(CAUTION))
    return body


def result_message(
    summary: Summary,
    confidence: Confidence,
    links: Mapping[str, str | None],
    *,
    title: str,
    interaction_id: str,
    span: str,
    redactions: int,
) -> bk.Message:
    """The private result, with Share in thread, Why? and feedback buttons."""
    body = _summary_body(f"*{title}* · {span}", summary, confidence, links)
    body.append(
        bk.context(
            "AI-generated",
            confidence_line(confidence),
            engine_label(summary.engine, summary.model),
            f"{redactions} redaction(s) before the model" if redactions else "no redactions",
        )
    )
    body.append(
        bk.actions(
            bk.button("Share in thread", "summary_share", interaction_id, style="primary"),
            bk.button("Why?", "why", interaction_id),
            bk.button("👍", "feedback_up", interaction_id),
            bk.button("👎", "feedback_down", interaction_id),
            block_id=f"summary:{interaction_id}",
        )
    )
    return bk.message(f"{title}: {summary.gist}"[:3000], body)


def shared_message(
    summary: Summary,
    confidence: Confidence,
    links: Mapping[str, str | None],
    *,
    title: str,
    requester_name: str,
) -> bk.Message:
    """The visible post: attributed, labelled AI-generated, no buttons but none needed."""
    requester_name = escape(requester_name)  # a name as Slack holds it
    body = _summary_body(f"*{title}*", summary, confidence, links)
    body.append(
        bk.context(
            f"Summary requested by {requester_name} · AI-generated",
            confidence_line(confidence),
            engine_label(summary.engine, summary.model),
        )
    )
    return bk.message(f"{title} (requested by {requester_name}, AI-generated)", body)
