"""Reading an HTTP body safely: decoded in bounded pieces (a gzip or deflate bomb costs one
piece of memory), capped in size, and the JSON we send encoded with a typed error."""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from ..._core.errors import InvalidRequestError, InvalidResponseError
from ..._core.lazy import LazyModule
from ..._streaming.sse import shorten

if TYPE_CHECKING:
    import httpx2
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = [
    "MAX_ERROR_BYTES",
    "MAX_EVENT_BYTES",
    "MAX_RESPONSE_BYTES",
    "decoded_pieces",
    "encode_json",
    "read_body",
    "read_error_body",
    "snippet",
]

#: Default cap on a decoded completion body: no real chat answer comes near it.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Default cap on one stream event (or one unterminated line), in characters.
MAX_EVENT_BYTES = 1024 * 1024
#: Bytes of an error body read to name the error; the rest is dropped.
MAX_ERROR_BYTES = 64 * 1024
_PIECE = 64 * 1024


async def read_body(response: httpx2.Response, provider: str, limit: int) -> bytes:
    """The decoded body, or ``InvalidResponseError`` as soon as it passes ``limit`` bytes
    (the rest is neither read nor decoded)."""
    parts: list[bytes] = []
    size = 0
    async for piece in _body_pieces(response, provider):
        size += len(piece)
        if size > limit:
            raise InvalidResponseError(
                f"HTTP {response.status_code} body is larger than max_response_bytes="
                f"{limit}: attempt abandoned",
                provider=provider,
            )
        parts.append(piece)
    return b"".join(parts)


async def read_error_body(response: httpx2.Response, provider: str) -> bytes:
    """At most ``MAX_ERROR_BYTES`` of an error body: enough to name the error."""
    parts: list[bytes] = []
    size = 0
    async for piece in decoded_pieces(response, provider):
        parts.append(piece)
        size += len(piece)
        if size >= MAX_ERROR_BYTES:
            break
    return b"".join(parts)[:MAX_ERROR_BYTES]


def snippet(content: bytes, limit: int = 200) -> str:
    """The start of ``content`` as one short line of text (for error messages)."""
    return shorten(content[: limit * 4].decode("utf-8", "replace").strip(), limit)


#: ``json.dumps(body, allow_nan=False)``'s encoder, built once: ``dumps`` builds a new one for
#: every call that passes an option (the same text, a third of the cost for a small body).
_ENCODER = json.JSONEncoder(allow_nan=False)


def encode_json(body: dict[str, Any]) -> bytes:
    """The JSON body. Validation proved the request is plain JSON, so a failure here is the
    caller's input (``InvalidRequestError``), never a provider failure."""
    try:
        return _ENCODER.encode(body).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRequestError(
            f"invalid request: cannot encode it as JSON ({type(exc).__name__})"
        ) from exc


def decoded_pieces(response: httpx2.Response, provider: str) -> AsyncIterator[bytes]:
    """The response body decoded, in pieces of at most ``_PIECE`` bytes. gzip and deflate
    are inflated here with a bounded output per step, so a decompression bomb never costs
    more than one piece of memory; other encodings go through httpx2's decoders, and a body
    with no encoding is httpx2's own raw iterator (no layer of ours per piece)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if response.is_stream_consumed:  # read already (a MockTransport response built from bytes)
        return _whole(response.content)
    if not encoding or encoding == "identity":
        return response.aiter_raw()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return response.aiter_bytes()
    return _inflated(response, encoding, provider)


def _body_pieces(response: httpx2.Response, provider: str) -> AsyncIterator[bytes]:
    """``decoded_pieces`` for a body read whole: a body with no encoding comes from the
    response's stream itself (httpx2's ``aiter_raw`` adds a generator, a chunker and a
    context manager to every read; its transport's stream raises httpx2's errors already).
    The stream is then consumed; the caller closes the response, as after any read."""
    stream = response.stream
    if (
        isinstance(stream, httpx2.AsyncByteStream)
        and not response.is_stream_consumed
        and not response.is_closed
        and "content-encoding" not in response.headers
    ):
        response.is_stream_consumed = True
        return stream.__aiter__()
    return decoded_pieces(response, provider)


async def _whole(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def _inflated(
    response: httpx2.Response, encoding: str, provider: str
) -> AsyncIterator[bytes]:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    first = True
    try:
        async for raw in response.aiter_raw():
            if first and encoding == "deflate" and raw and (raw[0] & 0x0F) != 8:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            first = False
            data = raw
            while data:
                piece = inflater.decompress(data, _PIECE)
                data = inflater.unconsumed_tail
                if piece:
                    yield piece
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise InvalidResponseError(
            f"body is not valid {encoding}: {exc}", provider=provider
        ) from exc


#: After a stream's ``[DONE]``: how much of the rest of the body is read (normally just the
#: end of the chunked body) so that the connection goes back to the pool instead of being
#: closed, and how long that may take.
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 0.25


async def drain(pieces: AsyncIterator[bytes]) -> None:
    """Read what is left of a body, within ``DRAIN_BYTES`` and ``DRAIN_SECONDS``: past either,
    stop (the connection is then closed, as before). Errors are ignored: the answer is in."""
    size = 0
    with anyio.move_on_after(DRAIN_SECONDS), contextlib.suppress(Exception):
        async for piece in pieces:
            size += len(piece)
            if size > DRAIN_BYTES:
                return
