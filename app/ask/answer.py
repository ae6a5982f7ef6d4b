"""The answer to a question about a conversation: what the model is asked for (`AskOutput`, sent
as a strict JSON schema) and the answer as Steward shows it (`AskAnswer`, citing Slack ts).

`answered` comes first in the schema, then `answer`, then `sources`: Structured Outputs keep the
schema's property order, so a streamed answer says whether it answers before the text begins
(app/ask/streamed.py reads it as it arrives).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from app.summaries.summary import covered_span

NOT_IN_MESSAGES = "The messages don't say."


class AskOutput(BaseModel):
    """The model's answer: `sources` are message ids (`M12`) of the input."""

    model_config = ConfigDict(extra="ignore")

    answered: bool
    answer: str
    sources: list[str]

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, data: Any) -> Any:
        """Without a schema models rename keys or leave out a field; a JSON object with neither
        an answer nor `answered` is not an answer."""
        if not isinstance(data, Mapping):
            return data
        text = data.get("answer", data.get("text"))
        if text is None and "answered" not in data:
            raise ValueError("none of the fields answered, answer is present")
        raw = data.get("sources", data.get("citations", data.get("ids")))
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        answered = data.get("answered")
        if not isinstance(answered, bool):
            answered = bool(text) and bool(items)
        return {
            "answered": answered,
            "answer": "" if text is None else str(text),
            "sources": [str(item) for item in items if item is not None],
        }


class AskAnswer(BaseModel):
    """An answer ready to show: `sources` are Slack ts values, `text` is sanitised.

    `unsupported` is set when the model answered but grounding found its citations do not back
    the answer: it is then shown as not answered."""

    model_config = ConfigDict(frozen=True)

    answered: bool
    text: str
    sources: list[str] = []
    engine: str
    model: str
    dropped_sources: int = 0
    unsupported: bool = False
    covered: tuple[str, str] | None = None


def resolve_sources(ids: list[str], id_to_ts: Mapping[str, str]) -> tuple[list[str], int]:
    """Cited ids (`M12`, `[M12]`, `12`) as ts values, in citation order, and how many named
    no message of the input."""
    upper = {key.upper(): ts for key, ts in id_to_ts.items()}
    out: list[str] = []
    dropped = 0
    for item in ids:
        for token in item.replace(",", " ").split():
            token = token.strip("[]()<>{}\"'.;:").upper()
            if not token:
                continue
            ts = upper.get(token if token.startswith("M") else f"M{token}")
            if ts is None:
                dropped += 1
            elif ts not in out:
                out.append(ts)
    return out, dropped


def span(id_to_ts: Mapping[str, str]) -> tuple[str, str] | None:
    return covered_span(list(id_to_ts.values()))
