"""Server-sent events: the chat-chunk stream built on the decoder of ``_sse_decoder``.

``aiter_chunks`` turns the raw bytes of an OpenAI-compatible streaming response into
``ChatCompletionChunk`` objects. Keep-alive comments (DeepSeek's ``: keep-alive``) and blank
lines yield nothing, so they can never count as progress. Everything that goes wrong is one of
our ``ProviderError`` subclasses.
"""

from __future__ import annotations

import json
import sys
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
from .plain import plain_chunk, plain_finished
from .sse_decoder import CR, SSEDecoder, SSEEvent

__all__ = [
    "MAX_BAD_EVENTS_IN_A_ROW",
    "SKIPPED_EVENT",
    "ChunkReader",
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


def _chunk(data: str | bytes) -> ChatCompletionChunk | None:
    """The common event, a JSON chat chunk, parsed; None for anything else (``_parse_event``
    decides: ``[DONE]``, errors, keep-alives, bad events). ``data`` starts with ``{``."""
    try:
        chunk = ChatCompletionChunk.model_validate_json(data)
    except ValidationError:
        return None
    extra = chunk.__pydantic_extra__
    return None if extra and extra.get("error") else chunk


def _check_size(decoder: SSEDecoder, items: list[Any], limit: int, provider: str) -> None:
    longest = max((len(e if type(e) is str else e.data) for e in items), default=0)
    if decoder.pending > limit or longest > limit:
        message = f"a stream event is longer than {limit} characters"
        raise InvalidResponseError(message, provider=provider)


class ChunkReader:
    """``aiter_chunks`` without the loop: feed it each read of the body, get its chunks.

    ``feed`` and ``end`` (the body ended) return the chunks a read completed, in order, with
    ``SKIPPED_EVENT`` for each malformed event skipped. When the read also ended the stream,
    ``stopped`` is set: then ``raise_error()`` raises its failure (after the chunks before it
    were passed on), if any, else the stream reached ``[DONE]``. An over-long event raises
    from ``feed`` itself, before any chunk of that read.
    """

    __slots__ = ("_bad", "_clean", "_decoder", "_good", "_limit", "_plain", "_provider",
                 "_quick_max", "error", "finished", "stopped")  # fmt: skip

    def __init__(
        self, provider: str, max_event_chars: int | None = None, *, plain: bool = False
    ) -> None:
        self._decoder = SSEDecoder()
        #: Plain events come out as ``PlainChunk`` dicts (see ``_streaming.plain``): for a
        #: read whose chunks nobody sees, only their accumulation.
        self._plain = plain
        self._provider = provider
        self._limit = max_event_chars
        self._good = False  # a valid chunk was seen: the stream's framing is right
        self._bad = 0  # malformed events in a row
        self._clean = False  # the last read was read quickly: the decoder is between events
        #: The longest read ``feed`` may read quickly (the size check needs no measuring).
        self._quick_max = sys.maxsize if max_event_chars is None else max_event_chars - 3
        self.finished = False  # some choice had a finish reason
        self.stopped = False
        self.error: ProviderError | None = None

    def feed(self, raw: bytes) -> list[Any]:
        decoder = self._decoder
        if (
            raw[-2:] == b"\n\n"
            and raw[:6] == b"data: "
            and raw.count(b"\n") == 2
            and CR not in raw
            and len(raw) <= self._quick_max
            and (self._clean or decoder.between_events(raw))
        ):  # one whole event between events, the common read: no decoding to text
            quick = self._quick(raw[6:-2])
            if quick is not None:
                self._clean = True  # the decoder was left as it was
                return quick
        self._clean = False
        # No event completed now can be longer than what was held plus what arrived (a split
        # UTF-8 sequence held back is at most 3 bytes): below the limit, nothing is measured.
        held = decoder.pending + 3 + len(raw)
        items = decoder.feed_items(raw)
        if self._limit is not None and held > self._limit:
            _check_size(decoder, items, self._limit, self._provider)
        return self._chunks(items) if items else []

    def _quick(self, data: bytes) -> list[Any] | None:
        """``feed`` of a read that is one whole ``data: `` block (``data``, its bytes) when its
        data is a valid chunk, plain when plain, or ``[DONE]``; else None, nothing changed
        (the general path reads it: anything else, and invalid UTF-8, which it replaces)."""
        if data[:1] == b"{":
            if self._plain:
                body = plain_chunk(data)
                if body is not None:
                    self._good, self._bad = True, 0
                    if not self.finished:
                        self.finished = plain_finished(body)
                    return [body]
            chunk = _chunk(data)
            if chunk is None:
                return None
            self._good, self._bad = True, 0
            if not self.finished:
                for choice in chunk.choices:
                    if choice.finish_reason is not None:
                        self.finished = True
            return [chunk]
        if data == b"[DONE]":
            self.stopped = True
            return []
        return None

    def end(self) -> list[Any]:
        """The body ended: the last chunks; without ``[DONE]`` or a finish reason before it,
        the stream failed (``APIConnectionError``)."""
        decoder = self._decoder
        self._clean = False
        held = decoder.pending + 3
        items = decoder.flush()
        if self._limit is not None and held > self._limit:
            _check_size(decoder, items, self._limit, self._provider)
        chunks = self._chunks(items) if items else []
        if not self.stopped and not self.finished:
            self.error = APIConnectionError("stream ended without [DONE]", provider=self._provider)
        self.stopped = True
        return chunks

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _chunks(self, items: list[str] | list[SSEEvent]) -> list[Any]:
        """The chunks (``ChatCompletionChunk``, or ``PlainChunk`` when plain) of ``items``."""
        out: list[Any] = []
        plain = self._plain
        for item in items:
            data = item if isinstance(item, str) else item.data if item.event is None else None
            if plain and data is not None and data[:1] == "{":
                body = plain_chunk(data)
                if body is not None:
                    self._good, self._bad = True, 0
                    self.finished = self.finished or plain_finished(body)
                    out.append(body)
                    continue
            chunk = None if data is None or data[:1] != "{" else _chunk(data)
            if chunk is None:
                try:
                    event = item if isinstance(item, SSEEvent) else SSEEvent(None, item)
                    chunk = _parse_event(event, self._provider)
                except ProviderError as exc:
                    if isinstance(exc, InvalidResponseError):
                        self._bad += 1
                        if self._good and self._bad < MAX_BAD_EVENTS_IN_A_ROW:
                            out.append(SKIPPED_EVENT)
                            continue
                    self.error, self.stopped = exc, True
                    return out
                if chunk is None:
                    continue
                if chunk is _END:
                    self.stopped = True
                    return out
            self._good = True
            self._bad = 0
            if not self.finished:
                for choice in chunk.choices:
                    if choice.finish_reason is not None:
                        self.finished = True
            out.append(chunk)
        return out


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
    (and its connection) and closes it. The work per read is ``ChunkReader``'s.
    """
    reader = ChunkReader(provider, max_event_chars)
    async for raw in byte_stream:
        for chunk in reader.feed(raw):
            yield chunk
        if reader.stopped:
            reader.raise_error()
            return
    for chunk in reader.end():
        yield chunk
    reader.raise_error()
