"""The summary model, the model's output contract for it, and the tolerant reading of answers.

`SummaryOutput` is what the model is asked for (its strict JSON schema is sent as Structured
Outputs, app/model/structured.py): points cite message ids (`M12`). Without a schema, models
still wrap JSON in code fences, add a sentence after it, rename keys, cite ids that were never
shown, or echo the datamark character. Reading accepts all of that, maps ids back to Slack ts
values and counts what it had to drop; only output with no JSON object holding summary fields is
an error (`ModelOutputError`, or an `AnswerError` for app/model/llm.py's repair attempt).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.model.datamark import MARK
from app.model.structured import AnswerError, read_answer
from app.slack.messages import ts_order_key

SECTIONS = ("decisions", "open_questions", "action_items")
# Models sometimes copy the datamark character from the marked input into their output.
_DATAMARK = MARK


class ModelOutputError(ValueError):
    """The model's output holds no usable JSON summary."""


class SummaryPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    sources: list[str] = Field(default_factory=list)  # Slack message ts values
    owner: str | None = None


class Summary(BaseModel):
    """A summary ready to render; `sources` everywhere are Slack ts values.

    `covered` is the (first_ts, last_ts) span of the messages read; `dropped_sources` counts
    citations the model made to ids it was never shown.
    """

    model_config = ConfigDict(frozen=True)

    gist: str
    decisions: list[SummaryPoint] = Field(default_factory=list)
    open_questions: list[SummaryPoint] = Field(default_factory=list)
    action_items: list[SummaryPoint] = Field(default_factory=list)
    engine: str
    model: str
    covered: tuple[str, str] | None = None
    truncated_note: str | None = None
    dropped_sources: int = 0

    def points(self) -> Iterator[SummaryPoint]:
        for section in SECTIONS:
            yield from getattr(self, section)

    def cited_ts(self) -> list[str]:
        """Every ts cited by any point, once, in chronological order."""
        return sorted({ts for p in self.points() for ts in p.sources}, key=ts_order_key)


def covered_span(ts_values: Iterator[str] | list[str]) -> tuple[str, str] | None:
    ordered = sorted(ts_values, key=ts_order_key)
    return (ordered[0], ordered[-1]) if ordered else None


# --- what the model answers -----------------------------------------------------------------

_ID_RE = re.compile(r"^[Mm]?(\d+)$")


def _first(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if item.get(key) is not None:
            return item[key]
    return None


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _as_sources(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    return [str(item) for item in items if item is not None]


def _loose_point(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        text = _first(item, "text", "point", "decision", "question", "task", "item")
        owner = _first(item, "owner", "assignee")
        sources = _first(item, "sources", "source", "citations", "ids")
        return {
            "text": _as_text(text),
            "sources": _as_sources(sources),
            "owner": None if owner is None else _as_text(owner),
        }
    return {"text": _as_text(item), "sources": [], "owner": None}


class PointOutput(BaseModel):
    """One decision or open question as the model writes it: `sources` are message ids."""

    model_config = ConfigDict(extra="ignore")

    text: str
    sources: list[str]


class ActionItemOutput(PointOutput):
    owner: str | None  # required, nullable: strict schemas have no optional fields


class SummaryOutput(BaseModel):
    """The model's answer for a chunk or a reduce. Its strict JSON schema is the output contract;
    validation also accepts the looser shapes models write without one (renamed keys, a point as
    a bare string, a missing section), but not JSON that holds none of the summary's fields."""

    model_config = ConfigDict(extra="ignore")

    gist: str
    decisions: list[PointOutput]
    open_questions: list[PointOutput]
    action_items: list[ActionItemOutput]

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if not any(key in data for key in ("gist", *SECTIONS)):
            raise ValueError(f"none of the fields gist, {', '.join(SECTIONS)} is present")
        out: dict[str, Any] = {"gist": _as_text(data.get("gist"))}
        for section in SECTIONS:
            value = data.get(section)
            items = value if isinstance(value, list) else [value] if value else []
            out[section] = [_loose_point(item) for item in items]
        return out


def _clean_text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return " ".join(text.replace(_DATAMARK, " ").split())


class _SourceResolver:
    """Maps cited ids ("M12", "[M12]", "12", or a raw ts) to ts, counting unknown ones."""

    def __init__(self, id_to_ts: Mapping[str, str]) -> None:
        self._id_to_ts = {k.upper(): v for k, v in id_to_ts.items()}
        self._known_ts = set(id_to_ts.values())
        self.dropped = 0

    def resolve(self, items: list[str]) -> list[str]:
        out: list[str] = []
        for item in items:
            for token in re.split(r"[,\s]+", item):
                token = token.strip("[]()<>{}\"'.;:")
                if not token:
                    continue
                ts = self._lookup(token)
                if ts is None:
                    self.dropped += 1
                elif ts not in out:
                    out.append(ts)
        return out

    def _lookup(self, token: str) -> str | None:
        match = _ID_RE.match(token)
        if match:
            return self._id_to_ts.get(f"M{int(match.group(1))}")
        if token.upper() in self._id_to_ts:
            return self._id_to_ts[token.upper()]
        return token if token in self._known_ts else None


def _point(item: PointOutput, resolver: _SourceResolver) -> SummaryPoint | None:
    text = _clean_text(item.text)
    if not text:
        return None
    owner = _clean_text(item.owner) or None if isinstance(item, ActionItemOutput) else None
    return SummaryPoint(text=text, sources=resolver.resolve(item.sources), owner=owner)


def summary_from_output(
    output: SummaryOutput,
    id_to_ts: Mapping[str, str],
    *,
    engine: str = "openai",
    model: str = "",
    truncated_note: str | None = None,
) -> Summary:
    """The model's answer as a `Summary` citing ts values.

    `id_to_ts` is the id mapping of the rendered input (`M12` -> ts); its span becomes
    `covered`. Points without text are dropped; citations of unknown ids are dropped and counted.
    """
    resolver = _SourceResolver(id_to_ts)
    sections = {
        name: [p for p in (_point(i, resolver) for i in getattr(output, name)) if p is not None]
        for name in SECTIONS
    }
    return Summary(
        gist=_clean_text(output.gist),
        engine=engine,
        model=model,
        covered=covered_span(list(id_to_ts.values())),
        truncated_note=truncated_note,
        dropped_sources=resolver.dropped,
        **sections,
    )


def parse_model_output(
    raw: str,
    id_to_ts: Mapping[str, str],
    *,
    engine: str = "openai",
    model: str = "",
    truncated_note: str | None = None,
) -> Summary:
    """Read a raw answer (JSON, fenced or inside prose) into a `Summary`.

    Raises `ModelOutputError` when there is no JSON object with summary fields."""
    try:
        output = read_answer(raw, SummaryOutput)
    except AnswerError as exc:
        raise ModelOutputError(f"model output is not a summary: {exc.detail}") from None
    return summary_from_output(
        output, id_to_ts, engine=engine, model=model, truncated_note=truncated_note
    )
