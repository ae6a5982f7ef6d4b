"""How an answer looks in Slack: the private result of `/steward ask` (citations, confidence,
AI-generated, Why? and feedback), built from an `AskResult`."""

from __future__ import annotations

from app.ask.result import AskResult, Citation
from app.slack import blocks as bk
from app.slack.mrkdwn import escape
from app.summaries.views import CAUTION, confidence_line, engine_label

UNSUPPORTED = (
    "The model gave an answer, but the messages it cited do not support it, so it is not shown."
)


def citation_marks(citations: list[Citation]) -> str:
    return " ".join(f"<{c.permalink}|[{c.n}]>" if c.permalink else f"[{c.n}]" for c in citations)


def answer_markdown(result: AskResult) -> str:
    """The answer and its citation marks; for not-answered, what was looked at."""
    if result.status == "answered":
        return f"{result.text} {citation_marks(result.citations)}".rstrip()
    where = "thread" if result.thread_ts else "channel"
    line = f":mag: {result.text} I found nothing in the {result.read} messages of this {where}"
    line += " that answers it."
    return f"{line}\n_{UNSUPPORTED}_" if result.unsupported else line


def result_message(result: AskResult) -> bk.Message:
    """The private answer, with Why? and 👍 / 👎."""
    iid = result.interaction_id
    heading = f"*Question:* {escape(result.question)} · <#{result.channel_id}>"
    body = [bk.section(heading), *bk.sections(answer_markdown(result))]
    confidence = result.confidence
    if result.status == "answered" and confidence is not None and confidence.label == "Low":
        body.append(bk.section(CAUTION.replace("summary", "answer")))
    context = ["AI-generated"]
    if result.status == "answered" and confidence is not None:
        context.append(confidence_line(confidence))
    context.append(engine_label(result.engine or "", result.model or ""))
    n = result.redactions
    context.append(f"{n} redaction(s) before the model" if n else "no redactions")
    body.append(bk.context(*context))
    body.append(
        bk.actions(
            bk.button("Why?", "why", iid),
            bk.button("👍", "feedback_up", iid),
            bk.button("👎", "feedback_down", iid),
            block_id=f"ask:{iid}",
        )
    )
    return bk.message(f"Answer: {result.text}"[:3000], body)
