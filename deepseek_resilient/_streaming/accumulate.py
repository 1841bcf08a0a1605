"""Chunks to a completion and back.

``accumulate`` merges a stream's chunks into the ``ChatCompletion`` the same request would
have returned without ``stream=True`` (used to cache a finished stream and to build the answer
of a merged in-flight stream). ``completion_to_chunks`` is its inverse, used to replay a cached
completion as a stream.

Merge rules, per choice ``index``:

- ``content`` and ``reasoning_content`` are concatenated; they stay ``None`` when no chunk
  carried them (a tool-call-only answer keeps ``content=None`` unless the provider sent ``""``).
- ``tool_calls`` deltas are merged by their ``index``: the first delta of an index gives the
  call's shape (``id``, ``type``, ``function.name`` and any other key, set once — providers
  that repeat them on every delta do not get them doubled); ``function.arguments`` pieces are
  concatenated. A delta without ``index`` continues the last call, or starts a new one when it
  brings a new ``id``. The ``index`` key itself is not kept in the message.
- ``finish_reason``: the last non-null one. ``logprobs``: list fields concatenated.
- ``refusal``, ``audio``, ``function_call`` (the legacy one) and unknown fields are kept. In
  a delta: strings concatenated (``refusal`` text); in a dict, its ``arguments``, ``data`` and
  ``transcript`` pieces concatenated, other keys the last non-null wins; other values the
  last non-null wins. On a choice: the last non-null wins. At the top level: the first
  non-null wins (``service_tier``, ``provider``, ``prompt_filter_results``, ...); each
  chunk's ``obfuscation`` padding is dropped.
- ``id``, ``model``, ``created`` come from the first chunk; ``system_fingerprint`` from the
  first chunk that has one; ``usage`` from the last chunk that carries one.

A non-empty stream with no choice at all (e.g. only a usage chunk) gives one choice with an
empty assistant message (``content=""``) and ``finish_reason=None``: nothing was said, and the
``None`` finish reason tells that it did not finish normally. An empty chunk list is not a
completion: ``InvalidResponseError``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from .._core.errors import InvalidResponseError
from .._models import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChunkChoice,
    Usage,
)
from .merge import (
    CHUNK_KEPT,
    COMPLETION_BUILT,
    COMPLETION_KEPT,
    DELTA_KEPT,
    MESSAGE_BUILT,
    MESSAGE_KEPT,
    ChoiceState,
    extras,
    first_extra,
    merge_extra,
    merge_logprobs,
    merge_tool_call,
    without,
)
from .plain import PlainChunk

__all__ = ["Accumulator", "accumulate", "completion_to_chunks"]

_UNSET2, _UNSET3 = (None, None), (None, None, None)  # CHUNK_KEPT / DELTA_KEPT all unset


def _unknown(extra: dict[str, Any] | None, model: type[BaseModel]) -> dict[str, Any]:
    """A deep copy of ``extra`` without keys that are declared fields of ``model``."""
    if not extra:
        return {}
    known = model.model_fields
    return {k: copy.deepcopy(v) for k, v in extra.items() if k not in known}


def _merge_choice(state: ChoiceState, choice: ChunkChoice) -> None:
    delta = choice.delta
    if delta.content is not None:
        if state.content is None:
            state.content = []
        state.content.append(delta.content)
    if delta.reasoning_content is not None:
        if state.reasoning is None:
            state.reasoning = []
        state.reasoning.append(delta.reasoning_content)
    if delta.tool_calls:
        for call in delta.tool_calls:
            merge_tool_call(state, call.model_dump(exclude_unset=True))
    if choice.finish_reason is not None:
        state.finish_reason = choice.finish_reason
    if choice.logprobs is not None:
        merge_logprobs(state, choice.logprobs.model_dump(exclude_unset=True))
    kept = (delta.refusal, delta.audio, delta.function_call)
    if delta.__pydantic_extra__ or kept != _UNSET3:
        merge_extra(state.delta_extra, extras(delta, DELTA_KEPT), concat=True)
    if choice.__pydantic_extra__:
        merge_extra(state.choice_extra, choice.__pydantic_extra__, concat=False)


def _choice(index: int, state: ChoiceState) -> dict[str, Any]:
    """Choice ``index`` of the answer, as the keyword arguments its model is built from (the
    answer is validated once, whole: a model per part costs twice as much)."""
    calls = [state.tool_calls[i] for i in sorted(state.tool_calls)]
    message = {
        "role": "assistant",
        "content": None if state.content is None else "".join(state.content),
        "reasoning_content": None if state.reasoning is None else "".join(state.reasoning),
        "tool_calls": calls or None,
        **without(state.delta_extra, MESSAGE_BUILT),
    }
    return {
        "index": index,
        "message": message,
        "finish_reason": state.finish_reason,
        "logprobs": state.logprobs,
        **_unknown(state.choice_extra, Choice),
    }


class Accumulator:
    """``accumulate`` one chunk at a time: keeps only what the answer needs (text pieces,
    tool-call pieces, usage, finish reasons, the first chunk's ids), never the chunks."""

    __slots__ = ("_fingerprint", "_first", "_own_usage", "_states", "_top_extra", "_usage")

    def __init__(self) -> None:
        self._first: tuple[str, int, str] | None = None  # id, created, model
        self._states: dict[int, ChoiceState] = {}
        self._usage: Usage | None = None
        self._own_usage = False  # ``_usage`` was built here (from a plain chunk): no copy
        self._fingerprint: str | None = None
        self._top_extra: dict[str, Any] = {}

    def add(self, chunk: ChatCompletionChunk) -> None:
        if self._first is None:
            self._first = (chunk.id, chunk.created, chunk.model)
        for choice in chunk.choices:
            state = self._states.get(choice.index)
            if state is None:
                state = self._states[choice.index] = ChoiceState()
            _merge_choice(state, choice)
        if chunk.usage is not None:
            self._usage, self._own_usage = chunk.usage, False
        if self._fingerprint is None:
            self._fingerprint = chunk.system_fingerprint
        if chunk.__pydantic_extra__ or (chunk.service_tier, chunk.moderation) != _UNSET2:
            first_extra(self._top_extra, extras(chunk, CHUNK_KEPT))

    def add_plain(self, body: PlainChunk) -> None:
        """``add`` for a plain chunk (``_streaming.plain``), merged as its model would be."""
        if self._first is None:
            self._first = (body["id"], body.get("created", 0), body.get("model", ""))
        for choice in body.get("choices", ()):
            index = choice.get("index", 0)
            state = self._states.get(index)
            if state is None:
                state = self._states[index] = ChoiceState()
            delta = choice.get("delta")
            if delta:
                content, reasoning = delta.get("content"), delta.get("reasoning_content")
                if content is not None:
                    if state.content is None:
                        state.content = []
                    state.content.append(content)
                if reasoning is not None:
                    if state.reasoning is None:
                        state.reasoning = []
                    state.reasoning.append(reasoning)
            finish = choice.get("finish_reason")
            if finish is not None:
                state.finish_reason = finish
        usage = body.get("usage")
        if usage is not None:
            self._usage, self._own_usage = Usage.model_validate(usage), True
        if self._fingerprint is None:
            self._fingerprint = body.get("system_fingerprint")
        tier = body.get("service_tier")
        if tier is not None:
            first_extra(self._top_extra, {"service_tier": tier})

    @property
    def empty(self) -> bool:
        """No chunk was added."""
        return self._first is None

    @property
    def model(self) -> str:
        """The model the first chunk named ("" before any chunk)."""
        return self._first[2] if self._first is not None else ""

    @property
    def usage(self) -> Usage | None:
        """The last usage a chunk carried."""
        return self._usage

    def text(self, index: int = 0) -> str:
        """The content of choice ``index`` so far."""
        state = self._states.get(index)
        return "".join(state.content) if state is not None and state.content else ""

    def reasoning(self, index: int = 0) -> str:
        """The reasoning content of choice ``index`` so far."""
        state = self._states.get(index)
        return "".join(state.reasoning) if state is not None and state.reasoning else ""

    def choices(self) -> int:
        """How many choices (``index`` values) were seen."""
        return len(self._states)

    def has_tool_calls(self) -> bool:
        return any(state.tool_calls for state in self._states.values())

    def finished(self) -> bool:
        """Some choice has a finish reason."""
        return any(state.finish_reason is not None for state in self._states.values())

    def result(self) -> ChatCompletion:
        if self._first is None:
            raise InvalidResponseError("the stream had no chunks")
        states = self._states
        if states:
            choices = [_choice(i, states[i]) for i in sorted(states)]
        else:
            choices = [{"index": 0, "message": {"content": ""}}]
        cid, created, model = self._first
        usage, own, self._own_usage = self._usage, self._own_usage, False  # handed out once
        return ChatCompletion.model_validate(
            {
                "id": cid,
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage if usage is None or own else _own_copy(usage),
                "system_fingerprint": self._fingerprint,
                **without(self._top_extra, COMPLETION_BUILT),
            }
        )


def _own_copy(usage: Usage) -> Usage:
    """``usage`` not shared with the chunk it came from (deep only when something nests)."""
    nested = usage.__pydantic_extra__ or usage.completion_tokens_details
    return usage.model_copy(deep=bool(nested or usage.prompt_tokens_details))


def accumulate(chunks: Iterable[ChatCompletionChunk]) -> ChatCompletion:
    """Merge a stream's chunks into one ``ChatCompletion`` (see the module docstring)."""
    acc = Accumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.result()


def completion_to_chunks(completion: ChatCompletion) -> list[ChatCompletionChunk]:
    """A completion as the chunks of a stream, to replay it (e.g. from the cache).

    Per choice: a role chunk (carrying the message's unknown fields), then one chunk each for
    ``reasoning_content``, ``content`` and ``tool_calls`` when present, then a final chunk with
    ``finish_reason`` and ``logprobs``. ``usage`` rides on the very last chunk. ``accumulate``
    of the result equals ``completion``.
    """
    top_extra = without(extras(completion, COMPLETION_KEPT) or {}, COMPLETION_BUILT)
    chunks: list[ChatCompletionChunk] = []

    def emit(choice: ChunkChoice) -> None:
        chunks.append(
            ChatCompletionChunk(
                id=completion.id,
                created=completion.created,
                model=completion.model,
                system_fingerprint=completion.system_fingerprint,
                choices=[choice],
                **(top_extra if not chunks else {}),
            )
        )

    for choice in completion.choices:
        msg = choice.message
        index = choice.index
        emit(
            ChunkChoice(
                index=index,
                delta=ChoiceDelta(
                    role="assistant", **without(extras(msg, MESSAGE_KEPT) or {}, MESSAGE_BUILT)
                ),
            )
        )
        if msg.reasoning_content is not None:
            emit(
                ChunkChoice(index=index, delta=ChoiceDelta(reasoning_content=msg.reasoning_content))
            )
        if msg.content is not None:
            emit(ChunkChoice(index=index, delta=ChoiceDelta(content=msg.content)))
        if msg.tool_calls:
            calls = [
                ChoiceDeltaToolCall.model_validate({**c.model_dump(exclude_unset=True), "index": i})
                for i, c in enumerate(msg.tool_calls)
            ]
            emit(ChunkChoice(index=index, delta=ChoiceDelta(tool_calls=calls)))
        emit(
            ChunkChoice(
                index=index,
                delta=ChoiceDelta(),
                finish_reason=choice.finish_reason,
                logprobs=copy.deepcopy(choice.logprobs),
                **_unknown(choice.__pydantic_extra__, ChunkChoice),
            )
        )
    if completion.usage is not None:
        chunks[-1].usage = completion.usage.model_copy(deep=True)
    return chunks
