"""A summary as the agent pane shows it: standard markdown streamed into the thread, then the
blocks that end the message — AI-generated, confidence, engine, Why? and Slack's feedback
buttons (`context_actions` with `feedback_buttons`, docs.slack.dev/reference/block-kit/blocks/
context-actions-block and block-elements/feedback-buttons-element).

Text people wrote (the summary quotes and paraphrases it) is escaped before it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.slack import blocks as bk
from app.slack.mrkdwn import escape
from app.summaries.summary import SummaryPoint
from app.summaries.surface import Finished
from app.summaries.views import CAUTION, SECTION_TITLES, confidence_line, engine_label

FEEDBACK_ACTION = "pane_feedback"


def _cites(point: SummaryPoint, links: Mapping[str, str | None]) -> str:
    marks = []
    for n, ts in enumerate(point.sources[:5], 1):
        url = links.get(ts)
        marks.append(f"[{n}]({url})" if url else f"[{n}]")
    return " ".join(marks)


def summary_markdown(finished: Finished) -> str:
    """The gist, then the cited sections (markdown, as chat.startStream takes it)."""
    summary, links = finished.summary, finished.links
    parts = [f"**{escape(summary.gist)}**" if summary.gist else "_No gist._"]
    for section, title in SECTION_TITLES.items():
        points: list[SummaryPoint] = getattr(summary, section)
        if points:
            lines = [
                f"- {escape(p.text)}"
                + (f" — _{escape(p.owner)}_" if p.owner else "")
                + f" {_cites(p, links)}".rstrip()
                for p in points
            ]
            parts.append(f"**{title}**\n" + "\n".join(lines))
    if summary.truncated_note:
        parts.append(f"_{escape(summary.truncated_note)}_")
    if finished.confidence.label == "Low":
        parts.append(CAUTION.replace("*Low confidence*", "**Low confidence**"))
    return "\n\n".join(parts) + "\n"


def _label(finished: Finished) -> Any:
    return bk.context(
        f"{finished.title} · {finished.span}",
        "AI-generated",
        confidence_line(finished.confidence),
        engine_label(finished.summary.engine, finished.summary.model),
        f"{finished.redactions} redaction(s) before the model"
        if finished.redactions
        else "no redactions",
    )


def feedback_block(interaction_id: str) -> dict[str, Any]:
    """Slack's 👍 / 👎 for one answer, recorded as a `feedback` event of its interaction."""
    iid = interaction_id
    return {
        "type": "context_actions",
        "block_id": f"rate:{iid}",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Helpful"},
                    "accessibility_label": "This answer was helpful",
                    "value": f"up:{iid}",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Not helpful"},
                    "accessibility_label": "This answer was not helpful",
                    "value": f"down:{iid}",
                },
            }
        ],
    }


def final_blocks(finished: Finished) -> list[dict[str, Any]]:
    """What ends a complete answer: the label, Why?, and 👍 / 👎 as feedback_buttons."""
    iid = finished.interaction_id
    why = bk.actions(bk.button("Why?", "why", iid), block_id=f"why:{iid}")
    return [*bk.to_dicts([_label(finished), why]), feedback_block(iid)]


def cut_blocks(finished: Finished) -> list[dict[str, Any]]:
    """What ends an answer that stopped midway: the label and Why?, nothing to rate."""
    why = bk.actions(bk.button("Why?", "why", finished.interaction_id))
    return bk.to_dicts([_label(finished), why])
