"""Server-sent events: the chat-chunk stream built on the decoder of ``_sse_decoder``.

``aiter_chunks`` turns the raw bytes of an OpenAI-compatible streaming response into
``ChatCompletionChunk`` objects. Keep-alive comments (DeepSeek's ``: keep-alive``) and blank
lines yield nothing, so they can never count as progress. Everything that goes wrong is one of
our ``ProviderError`` subclasses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from .._core.errors import (
    APIConnectionError,
    InvalidResponseError,
    ProviderError,
    status_error,
)
from .._models import ChatCompletionChunk
from .sse_decoder import SSEDecoder, SSEEvent

__all__ = [
    "MAX_BAD_EVENTS_IN_A_ROW",
    "SKIPPED_EVENT",
    "SSEDecoder",
    "SSEEvent",
    "aiter_chunks",
    "shorten",
    "stream_error",
]


_DONE = "[DONE]"
#: Returned by ``_parse_event`` for ``[DONE]`` with stray whitespace around it.
_END = ChatCompletionChunk.model_construct(id="[DONE]")
_DATA_EVENTS = frozenset({None, "message", "error"})
#: Yielded by ``aiter_chunks`` in place of a malformed event it skipped (compare with ``is``):
#: the pipeline counts it in ``route.skipped_events`` and never passes it to the caller.
SKIPPED_EVENT = ChatCompletionChunk.model_construct(id="[SKIPPED]")
#: This many malformed events in a row end the stream with ``InvalidResponseError``.
MAX_BAD_EVENTS_IN_A_ROW = 3

#: ``error.type`` / ``error.code`` strings seen in mid-stream errors, mapped to HTTP statuses.
_ERROR_TYPES: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "insufficient_balance": 402,
    "insufficient_quota": 402,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "too_many_requests": 429,
    "server_error": 503,
    "service_unavailable": 503,
    "server_busy": 503,
    "overloaded": 503,
    "overloaded_error": 503,
    "api_error": 500,
    "internal_error": 500,
}


def _status_of(value: object) -> int | None:
    """An HTTP error status from an int or a digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == 3:
        value = int(value)
    if isinstance(value, int) and 400 <= value <= 599:
        return value
    return None


def stream_error(body: object, *, provider: str | None) -> ProviderError:
    """The typed error for an error object sent inside a stream (``{"error": {...}}``).

    The status comes from ``error.code`` or ``error.status`` when it is an HTTP error status,
    else from ``error.type`` / ``error.code`` names (``rate_limit_exceeded`` -> 429,
    ``server_error`` / ``service_unavailable`` -> 503, ...), else 500.
    """
    err = body.get("error", body) if isinstance(body, dict) else body
    message = "the provider sent an error in the stream"
    status: int | None = None
    if isinstance(err, dict):
        msg = err.get("message")
        if isinstance(msg, str) and msg:
            message = shorten(msg, 1000)
        for key in ("code", "status", "status_code"):
            status = _status_of(err.get(key))
            if status is not None:
                break
        if status is None:
            for key in ("type", "code", "status"):
                name = err.get(key)
                if isinstance(name, str) and name.lower() in _ERROR_TYPES:
                    status = _ERROR_TYPES[name.lower()]
                    break
    elif isinstance(err, str) and err:
        message = shorten(err)
    return status_error(status or 500, message, provider=provider, body=body)


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, for error messages."""
    return text if len(text) <= limit else text[:limit] + "..."


def _invalid(data: str, provider: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"stream event is not a chat chunk: {shorten(data)!r}", provider=provider
    )


def _parse_event(event: SSEEvent, provider: str) -> ChatCompletionChunk | None:
    """The event's chunk; None for a progress-free event; ``_END`` at ``[DONE]``.

    Raises only our errors.
    """
    if event.event not in _DATA_EVENTS:
        return None  # a named event the chat stream does not use: ignored
    data = event.data
    if event.event == "error":
        try:
            body: Any = json.loads(data)
        except (ValueError, RecursionError):
            body = data
        raise stream_error(body, provider=provider)
    if not data or data.isspace():
        return None
    if data == _DONE:
        return _END
    try:
        chunk = ChatCompletionChunk.model_validate_json(data)
    except ValidationError:
        pass
    else:
        extra = chunk.__pydantic_extra__
        if extra and extra.get("error"):
            raise stream_error(extra, provider=provider)
        return chunk
    if data.strip() == _DONE:
        return _END
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise _invalid(data, provider) from None
    if isinstance(body, dict) and body.get("error"):
        raise stream_error(body, provider=provider)
    raise _invalid(data, provider)


def _chunk(event: SSEEvent) -> ChatCompletionChunk | None:
    """The common event, a JSON chat chunk, parsed; None for anything else (``_parse_event``
    decides: ``[DONE]``, errors, keep-alives, bad events)."""
    data = event.data
    if event.event is not None or data[:1] != "{":
        return None
    try:
        chunk = ChatCompletionChunk.model_validate_json(data)
    except ValidationError:
        return None
    extra = chunk.__pydantic_extra__
    return None if extra and extra.get("error") else chunk


def _check_size(decoder: SSEDecoder, events: list[SSEEvent], limit: int, provider: str) -> None:
    if decoder.pending > limit or (events and max(len(e.data) for e in events) > limit):
        message = f"a stream event is longer than {limit} characters"
        raise InvalidResponseError(message, provider=provider)


async def aiter_chunks(
    byte_stream: AsyncIterator[bytes], *, provider: str, max_event_chars: int | None = None
) -> AsyncIterator[ChatCompletionChunk]:
    """Decode an OpenAI-compatible SSE body into chunks, up to ``data: [DONE]``.

    - Keep-alive comments, blank lines, empty ``data:`` and events with a type other than
      ``message``/``error`` yield nothing (they are never progress).
    - An ``{"error": {...}}`` object (or an ``event: error``) raises the typed status error.
    - Data that is not JSON, or JSON that is not a chunk, is skipped (``SKIPPED_EVENT`` is
      yielded in its place, to be counted); ``MAX_BAD_EVENTS_IN_A_ROW`` of them in a row, or
      one before any good event, raise ``InvalidResponseError``.
    - The bytes ending before ``[DONE]`` and before any choice had a ``finish_reason``
      raise ``APIConnectionError``; after a ``finish_reason`` a missing ``[DONE]`` is fine.

    - An event (or a line) longer than ``max_event_chars`` raises ``InvalidResponseError``
      without waiting for its end.

    Iteration stops at ``[DONE]`` without reading further; the caller owns ``byte_stream``
    (and its connection) and closes it.
    """
    decoder = SSEDecoder()
    finished = False
    eof = False
    good = False  # a valid chunk was seen: the stream's framing is right
    bad_in_a_row = 0
    iterator = byte_stream.__aiter__()
    while not eof:
        # No event completed now can be longer than what was held plus what arrives (a split
        # UTF-8 sequence held back is at most 3 bytes): below the limit, nothing is measured.
        held = decoder.pending + 3
        try:
            raw = await iterator.__anext__()
        except StopAsyncIteration:
            eof = True
            events = decoder.flush()
        else:
            events = decoder.feed(raw)
            held += len(raw)
        if max_event_chars is not None and held > max_event_chars:
            _check_size(decoder, events, max_event_chars, provider)
        for event in events:
            chunk = _chunk(event)
            if chunk is None:
                try:
                    chunk = _parse_event(event, provider)
                except InvalidResponseError:
                    bad_in_a_row += 1
                    if not good or bad_in_a_row >= MAX_BAD_EVENTS_IN_A_ROW:
                        raise
                    yield SKIPPED_EVENT
                    continue
                if chunk is None:
                    continue
                if chunk is _END:
                    return
            good = True
            bad_in_a_row = 0
            if not finished:
                for choice in chunk.choices:
                    if choice.finish_reason is not None:
                        finished = True
            yield chunk
    if not finished:
        raise APIConnectionError("stream ended without [DONE]", provider=provider)
