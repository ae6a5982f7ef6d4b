"""Structured Outputs' schema rules as the loopback model applies them: which schemas strict mode
refuses (Structured Outputs guide, "Supported schemas"), and shaping an answer to a schema.
"""

from __future__ import annotations

import re
from typing import Any

# Structured Outputs: "name" must be a-z, A-Z, 0-9, or contain underscores and dashes, with a
# maximum length of 64 (API reference, Chat Completions: create, response_format.json_schema).
SCHEMA_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def strict_problem(node: Any, root: dict[str, Any], where: tuple[str, ...] = ()) -> str | None:
    """Why strict mode would reject this schema, or None. Structured Outputs guide, "Supported
    schemas": every object needs `additionalProperties: false`, and every property must be
    listed in `required`."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            problem = strict_problem(item, root, (*where, str(index)))
            if problem:
                return problem
        return None
    if not isinstance(node, dict):
        return None
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            return (
                f"In context={where}, 'additionalProperties' is required to be supplied and "
                "to be false."
            )
        missing = [p for p in node.get("properties", {}) if p not in node.get("required", [])]
        if missing:
            return (
                f"In context={where}, 'required' is required to be supplied and to be an array "
                f"including every key in properties. Missing '{missing[0]}'."
            )
    for key, value in node.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            for name, sub in value.items():
                problem = strict_problem(sub, root, (*where, key, name))
                if problem:
                    return problem
        elif key in ("items", "anyOf"):
            problem = strict_problem(value, root, (*where, key))
            if problem:
                return problem
    return None


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target if isinstance(target, dict) else {}
    return schema


def conform(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """`value` reshaped to match `schema`: what decoding constrained by the schema produces."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        branches = [_resolve(b, root) for b in schema["anyOf"]]
        if value is None and any(b.get("type") == "null" for b in branches):
            return None
        typed = [b for b in branches if b.get("type") != "null"] or branches
        return conform(value, typed[0], root)
    kind = schema.get("type")
    if kind == "object":
        given = value if isinstance(value, dict) else {}
        props = schema.get("properties", {})
        return {name: conform(given.get(name), sub, root) for name, sub in props.items()}
    if kind == "array":
        items = value if isinstance(value, list) else []
        return [conform(item, schema.get("items", {}), root) for item in items]
    if kind == "string":
        return value if isinstance(value, str) else "" if value is None else str(value)
    if kind == "boolean":
        return bool(value) if value is not None else True
    if kind in ("integer", "number"):
        return value if isinstance(value, int | float) else 0
    if kind == "null":
        return None
    return value
