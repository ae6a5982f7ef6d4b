"""The model's output contract: a pydantic model, sent as a strict JSON schema, read tolerantly.

Every call that expects JSON names the pydantic model it expects. Three ways to ask for it, best
first (app/model/llm.py falls back along them when a server refuses one):

* `json_schema` — OpenAI Structured Outputs: `response_format: {"type": "json_schema",
  "json_schema": {"name", "schema", "strict": true}}`. Strict mode accepts a subset of JSON
  Schema: every object must say `additionalProperties: false` and list *all* its properties in
  `required` (an optional field is a required, nullable one); `default` is not among the
  supported keywords. `strict_schema` turns pydantic's schema into that shape.
* `json_object` — JSON mode: the answer is some JSON object; the shape is only in the prompt.
* `text` — nothing is promised; `extract_json` finds the first JSON object in prose or in a
  code fence.

Whatever the mode, the answer is validated against the model (`read_answer`); a validation
error is what app/model/llm.py sends back for its one repair attempt.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

OutputFormat = Literal["json_schema", "json_object", "text"]
FORMATS: tuple[OutputFormat, ...] = ("json_schema", "json_object", "text")  # best first

T = TypeVar("T", bound=BaseModel)

_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_MAX_JSON_ATTEMPTS = 20
_NAME_RE = re.compile(r"[^a-zA-Z0-9_-]")


class AnswerError(ValueError):
    """The answer is not a valid instance of the expected model; `detail` says why, briefly
    (field paths and messages only, never the answer's text)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def schema_name(model: type[BaseModel]) -> str:
    """The `json_schema.name`: letters, digits, `_` and `-`, at most 64 characters."""
    return _NAME_RE.sub("_", model.__name__)[:64]


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The pydantic model's JSON schema, made acceptable to Structured Outputs' strict mode."""
    return _strict(model.model_json_schema())


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key not in ("default",)}
    for mapping in ("properties", "$defs"):
        # These map names (of fields, of definitions) to schemas: keep every key.
        if isinstance(node.get(mapping), dict):
            out[mapping] = {name: _strict(s) for name, s in node[mapping].items()}
    if out.get("type") == "object":
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    return out


def response_format(fmt: OutputFormat, model: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` request parameter for one way of asking."""
    if fmt == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {
                "name": schema_name(model),
                "schema": strict_schema(model),
                "strict": True,
            },
        }
    return {"type": fmt}


def extract_json(raw: str) -> dict[str, Any]:
    """The first JSON object in `raw`: the whole text, a code fence's content, or one inside prose.

    Raises AnswerError when there is none."""
    text = raw.strip()
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole
    fenced = _FENCE_RE.search(raw)
    candidates = [fenced.group(1), raw] if fenced else [raw]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        attempts = 0
        while start != -1 and attempts < _MAX_JSON_ATTEMPTS:
            try:
                obj, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                return obj
            start, attempts = candidate.find("{", start + 1), attempts + 1
    raise AnswerError("the answer holds no JSON object")


def describe(error: ValidationError, limit: int = 5) -> str:
    """A short, value-free account of what failed validation: `field.path: message`."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def read_answer(raw: str, model: type[T]) -> T:
    """The answer as an instance of `model`, or AnswerError saying what is wrong with it."""
    data = extract_json(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AnswerError(describe(exc)) from None


def repair_instruction(model: type[BaseModel], detail: str) -> str:
    """The user turn of the one repair attempt: what was wrong, and the schema to follow."""
    schema = json.dumps(strict_schema(model), separators=(",", ":"))
    return (
        f"Your previous answer could not be used: {detail}. Reply again with one JSON object "
        f"and nothing else, valid against this JSON schema: {schema}"
    )
