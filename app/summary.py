"""The summary model and the tolerant parser for what a model returns.

Models are asked for strict JSON citing message ids (`M12`); they still wrap it in code fences,
add a sentence after it, cite ids that were never shown, or echo the datamark character. The
parser accepts all of that, maps ids back to Slack ts values, and counts what it had to drop;
only output with no JSON object at all is an error (`ModelOutputError`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.messages import ts_order_key

SECTIONS = ("decisions", "open_questions", "action_items")
# The datamark character (app.datamark.MARK), repeated here because datamark imports this module.
# Models sometimes copy it from the marked input into their output.
_DATAMARK = "\u02c6"
_MAX_JSON_ATTEMPTS = 20


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


# --- parsing ---------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_ID_RE = re.compile(r"^[Mm]?(\d+)$")


def _find_json_object(raw: str) -> dict[str, Any]:
    fenced = _FENCE_RE.search(raw)
    candidates = [fenced.group(1), raw] if fenced else [raw]
    decoder = json.JSONDecoder()
    for text in candidates:
        start = text.find("{")
        attempts = 0
        while start != -1 and attempts < _MAX_JSON_ATTEMPTS:
            try:
                obj, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                return obj
            start, attempts = text.find("{", start + 1), attempts + 1
    raise ModelOutputError(f"model output holds no JSON object: {raw[:200]!r}")


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

    def resolve(self, raw: Any) -> list[str]:
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        out: list[str] = []
        for item in items:
            for token in re.split(r"[,\s]+", str(item)):
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


def _first(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if item.get(key) is not None:
            return item[key]
    return None


def _parse_point(item: Any, resolver: _SourceResolver) -> SummaryPoint | None:
    if isinstance(item, Mapping):
        text = _clean_text(_first(item, "text", "point", "decision", "question", "task", "item"))
        sources = resolver.resolve(_first(item, "sources", "source", "citations", "ids"))
        owner = _clean_text(_first(item, "owner", "assignee")) or None
    else:
        text, sources, owner = _clean_text(item), [], None
    return SummaryPoint(text=text, sources=sources, owner=owner) if text else None


def _parse_section(value: Any, resolver: _SourceResolver) -> list[SummaryPoint]:
    items = value if isinstance(value, list) else [value] if value else []
    return [p for p in (_parse_point(i, resolver) for i in items) if p is not None]


def parse_model_output(
    raw: str,
    id_to_ts: Mapping[str, str],
    *,
    engine: str = "openai",
    model: str = "",
    truncated_note: str | None = None,
) -> Summary:
    """Parse the model's JSON into a `Summary`, citing ts values.

    `id_to_ts` is the id mapping of the rendered input (`M12` -> ts); its span becomes
    `covered`. Raises `ModelOutputError` when there is no JSON object with summary fields.
    """
    data = _find_json_object(raw)
    if not any(key in data for key in ("gist", *SECTIONS)):
        raise ModelOutputError(f"JSON has none of gist/{'/'.join(SECTIONS)}: {list(data)[:10]}")
    resolver = _SourceResolver(id_to_ts)
    sections = {name: _parse_section(data.get(name), resolver) for name in SECTIONS}
    return Summary(
        gist=_clean_text(data.get("gist")),
        engine=engine,
        model=model,
        covered=covered_span(list(id_to_ts.values())),
        truncated_note=truncated_note,
        dropped_sources=resolver.dropped,
        **sections,
    )
