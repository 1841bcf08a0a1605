"""How ``accumulate`` merges the fields of a stream besides its text and tool calls: the
declared ones it carries over as they are (``refusal``, ``audio``, ``function_call``,
``service_tier``, ...) and the unknown ones a provider sends."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

__all__ = [
    "CHUNK_KEPT",
    "COMPLETION_BUILT",
    "COMPLETION_KEPT",
    "DELTA_KEPT",
    "MESSAGE_BUILT",
    "MESSAGE_KEPT",
    "ChoiceState",
    "extras",
    "first_extra",
    "merge_extra",
    "merge_logprobs",
    "merge_tool_call",
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


@dataclass(repr=False, eq=False)
class ChoiceState:
    """What one choice of a stream has said so far."""

    content: list[str] | None = None
    reasoning: list[str] | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_tool_index: int | None = None
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None
    delta_extra: dict[str, Any] = field(default_factory=dict)
    choice_extra: dict[str, Any] = field(default_factory=dict)


def merge_logprobs(state: ChoiceState, logprobs: dict[str, Any]) -> None:
    if state.logprobs is None:
        state.logprobs = copy.deepcopy(logprobs)
        return
    for key, value in logprobs.items():
        old = state.logprobs.get(key)
        if isinstance(value, list) and isinstance(old, list):
            old.extend(copy.deepcopy(value))
        elif value is not None or key not in state.logprobs:
            state.logprobs[key] = copy.deepcopy(value)


def merge_tool_call(state: ChoiceState, delta: dict[str, Any]) -> None:
    index = _tool_index(state, delta)
    state.last_tool_index = index
    piece = {k: v for k, v in delta.items() if k != "index"}
    call = state.tool_calls.get(index)
    if call is None:
        state.tool_calls[index] = copy.deepcopy(piece)
        return
    for key, value in piece.items():
        if key == "function" and isinstance(value, dict):
            fn = call.get("function")
            if isinstance(fn, dict):
                _merge_function(fn, value)
            else:
                call["function"] = copy.deepcopy(value)
        elif call.get(key) is None or call.get(key) == "":
            call[key] = copy.deepcopy(value)


def _tool_index(state: ChoiceState, delta: dict[str, Any]) -> int:
    """The tool call a delta belongs to: its ``index``, else (a provider that sends none)
    the last one, or a new one when the delta carries another ``id``."""
    index = delta.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    new_id = delta.get("id")
    last = state.last_tool_index
    if last is None or (new_id and new_id != state.tool_calls[last].get("id")):
        return max(state.tool_calls, default=-1) + 1
    return last


def _merge_function(fn: dict[str, Any], delta: dict[str, Any]) -> None:
    """A function delta onto the call's function so far: ``arguments`` concatenated, any
    other field set once."""
    for key, value in delta.items():
        old = fn.get(key)
        if key == "arguments" and isinstance(value, str) and isinstance(old, str):
            fn[key] = old + value
        elif old is None or old == "":
            fn[key] = copy.deepcopy(value)
