"""``instance_of(schema)``: a small valid instance of a JSON schema, so the test server can
answer ``response_format={"type": "json_schema", ...}`` and forced tool calls offline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["instance_of"]

_MAX_DEPTH = 12


def instance_of(schema: Mapping[str, Any], *, defs: Mapping[str, Any] | None = None) -> Any:
    """A value that validates against ``schema``: every property filled (required or not),
    the first ``enum`` / ``const`` / ``default`` / ``examples`` value where one is given,
    ``anyOf`` / ``oneOf`` by their first non-null choice, ``$ref`` into ``$defs``; strings
    ``"text"`` (padded to ``minLength``), numbers within their bounds, one item per array
    (or ``minItems``)."""
    root = dict(defs or {})
    root.update(schema.get("$defs") or {})
    root.update(schema.get("definitions") or {})
    return _value(schema, root, 0)


def _value(schema: Any, defs: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _value(defs.get(name, {}), defs, depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    for key in ("enum", "examples"):
        if schema.get(key):
            return schema[key][0]
    for key in ("anyOf", "oneOf", "allOf"):
        choices = [c for c in schema.get(key) or [] if not _is_null(c)]
        if choices:
            return _value(choices[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {name: _value(sub, defs, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items") or {}
        count = max(1, int(schema.get("minItems", 1)))
        return [_value(items, defs, depth + 1) for _ in range(count)]
    return _scalar(kind, schema)


def _scalar(kind: Any, schema: Mapping[str, Any]) -> Any:
    if kind == "string":
        text = "text"
        return text.ljust(int(schema.get("minLength", 0)), "x")
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = 1 if low is None else low + (1 if "exclusiveMinimum" in schema else 0)
        high = schema.get("maximum")
        if high is not None and value > high:
            value = high
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "text"


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"
