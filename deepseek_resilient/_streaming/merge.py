"""How ``accumulate`` merges the fields of a stream besides its text and tool calls: the
declared ones it carries over as they are (``refusal``, ``audio``, ``function_call``,
``service_tier``, ...) and the unknown ones a provider sends."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

__all__ = [
    "CHUNK_KEPT",
    "COMPLETION_BUILT",
    "COMPLETION_KEPT",
    "DELTA_KEPT",
    "MESSAGE_BUILT",
    "MESSAGE_KEPT",
    "extras",
    "first_extra",
    "merge_extra",
    "without",
]

#: Declared fields merged as the unknown ones are: of a delta (into the message), of a chunk
#: (into the completion), and of a completion's message and top level (replayed as chunks).
DELTA_KEPT = ("refusal", "audio", "function_call")
CHUNK_KEPT = ("service_tier", "moderation")
MESSAGE_KEPT = (*DELTA_KEPT, "annotations")
COMPLETION_KEPT = (*CHUNK_KEPT, "metadata")
#: The fields the builders set themselves: never taken from the merged extras.
MESSAGE_BUILT = frozenset({"role", "content", "reasoning_content", "tool_calls"})
COMPLETION_BUILT = frozenset(
    {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
)
#: In a dict of a delta (``function_call``, ``audio``): the keys whose pieces concatenate.
_PIECES = frozenset({"arguments", "data", "transcript"})


def extras(model: BaseModel, kept: tuple[str, ...]) -> dict[str, Any] | None:
    """``model``'s unknown fields, with the ``kept`` declared ones that were set (as JSON)."""
    extra = model.__pydantic_extra__
    present = [name for name in kept if getattr(model, name) is not None]
    if not present:
        return extra
    out = dict(extra or {})
    for name in present:
        value = getattr(model, name)
        if isinstance(value, BaseModel):  # a null inside a piece is "not in this piece"
            value = value.model_dump(exclude_unset=True, exclude_none=True)
        elif isinstance(value, list):
            value = [v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v
                     for v in value]  # fmt: skip
        out[name] = value
    return out


def without(extra: dict[str, Any], built: frozenset[str]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in extra.items() if k not in built}


def merge_extra(into: dict[str, Any], extra: dict[str, Any] | None, *, concat: bool) -> None:
    """Merge unknown fields. ``concat``: strings concatenate (delta text such as ``refusal``),
    dicts merge key by key (``_PIECES`` concatenated); otherwise, and for other values, the
    last non-null wins (a lone null is kept)."""
    if not extra:
        return
    for key, value in extra.items():
        old = into.get(key)
        if concat and isinstance(value, str) and isinstance(old, str):
            into[key] = old + value
        elif concat and isinstance(value, dict) and isinstance(old, dict):
            for k, v in value.items():
                was = old.get(k)
                if k in _PIECES and isinstance(v, str) and isinstance(was, str):
                    old[k] = was + v
                elif v is not None or k not in old:
                    old[k] = copy.deepcopy(v)
        elif value is not None or key not in into:
            into[key] = copy.deepcopy(value)


def first_extra(into: dict[str, Any], extra: dict[str, Any] | None) -> None:
    """Merge unknown top-level fields: the first non-null value of each wins."""
    if not extra:
        return
    for key, value in extra.items():
        if into.get(key) is None:
            into[key] = copy.deepcopy(value)
