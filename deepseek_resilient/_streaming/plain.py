"""Plain chunks: the common stream event read without building a ``ChatCompletionChunk``.

A request sent upstream as a stream only to be read to its end (``read_to_end``) never shows
its chunks to anyone: only the accumulated ``ChatCompletion`` is returned. For such a read,
an event whose JSON is *plain* is kept as the parsed ``dict``: only the keys below, each of
the exact JSON type its model field takes unchanged (a string for ``str``, an integer for
``int``, ``null`` where ``None`` is allowed). Such a dict is a chunk that validation would
accept as it is, and ``Accumulator.add_plain`` merges it exactly as ``add`` merges that chunk.
A usage is plain too (the last event of most streams: token counts and their details). Any
other event (tool calls, logprobs, unknown keys, an error object, a
type that validation would coerce or refuse) is validated into a ``ChatCompletionChunk`` as
before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import Required, TypedDict

__all__ = ["PlainChunk", "plain_chunk", "plain_finished", "plain_has_content"]

#: A plain chunk: the event's parsed JSON (see the module docstring).
PlainChunk = dict[str, Any]


def _build() -> Callable[[str | bytes], Any]:
    """The check of the plain shape, in strict mode (no coercion: the exact JSON types the
    chunk's fields take unchanged) with no other key. Its classes are made here, on first
    use, not at ``import deepseek_resilient`` (six ``TypedDict`` classes cost about 2 M
    instructions to make)."""
    strict = ConfigDict(strict=True, extra="forbid")

    class _Delta(TypedDict, total=False):
        __pydantic_config__ = strict  # type: ignore[misc]
        role: str | None
        content: str | None
        reasoning_content: str | None

    class _Choice(TypedDict, total=False):
        __pydantic_config__ = strict  # type: ignore[misc]
        index: int
        delta: _Delta
        finish_reason: str | None
        logprobs: None

    class _CompletionDetails(TypedDict, total=False):
        __pydantic_config__ = strict  # type: ignore[misc]
        reasoning_tokens: int | None
        accepted_prediction_tokens: int | None
        rejected_prediction_tokens: int | None
        audio_tokens: int | None
        text_tokens: int | None

    class _PromptDetails(TypedDict, total=False):
        __pydantic_config__ = strict  # type: ignore[misc]
        cached_tokens: int | None
        audio_tokens: int | None
        cache_write_tokens: int | None
        image_tokens: int | None
        text_tokens: int | None

    class _Usage(TypedDict, total=False):
        __pydantic_config__ = strict  # type: ignore[misc]
        prompt_tokens: int
        completion_tokens: int
        total_tokens: int
        prompt_cache_hit_tokens: int | None
        prompt_cache_miss_tokens: int | None
        completion_tokens_details: _CompletionDetails | None
        prompt_tokens_details: _PromptDetails | None

    class _Chunk(TypedDict, total=False):
        __pydantic_config__ = strict  # type: ignore[misc]
        id: Required[str]
        object: Literal["chat.completion.chunk"]
        created: int
        model: str
        choices: list[_Choice]
        system_fingerprint: str | None
        service_tier: str | None
        usage: _Usage | None
        obfuscation: str | None

    return TypeAdapter(_Chunk).validator.validate_json


_validate: Callable[[str | bytes], Any] | None = None


def plain_chunk(data: str | bytes) -> PlainChunk | None:
    """``data`` (JSON text, or its UTF-8 bytes) parsed, when it is a plain chunk; else None
    (nothing is raised)."""
    global _validate
    if _validate is None:  # built on first use: nothing at import time
        _validate = _build()
    try:
        body: PlainChunk = _validate(data)
    except ValidationError:
        return None
    return body


def plain_has_content(body: PlainChunk) -> bool:
    """``ChatCompletionChunk.has_content`` of a plain chunk."""
    for choice in body.get("choices", ()):
        delta = choice.get("delta")
        if delta and (delta.get("content") or delta.get("reasoning_content")):
            return True
    return False


def plain_finished(body: PlainChunk) -> bool:
    """Some choice of a plain chunk has a finish reason."""
    for choice in body.get("choices", ()):  # noqa: SIM110 - a loop: no generator per event
        if choice.get("finish_reason") is not None:
            return True
    return False
