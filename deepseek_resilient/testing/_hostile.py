"""Hostile answers for ``FaultServer``: a server that attacks its client on purpose.

Each step is sent piece by piece (never built whole in the server's memory), and the server
stops writing as soon as the client hangs up. A huge ``Retry-After`` needs no step of its own:
``Status(429, retry_after="1e9")`` or an HTTP date in 2999.
"""

from __future__ import annotations

import functools
import json
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._server import ANSWERS, FaultServer
from ._steps import Step
from ._wire import REASONS, ChunkedWriter, sse

__all__ = ["DeepJson", "GzipBomb", "HugeBody", "HugeError", "HugeEvent", "LongStream"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class GzipBomb(Step):
    """A 200 with ``Content-Encoding: gzip`` whose ``decoded`` bytes (zeros after a JSON
    prefix) compress about 1000:1: 1 GiB decoded is about 1 MiB on the wire."""

    decoded: int = 1024 * _MIB


@dataclass(frozen=True)
class HugeBody(Step):
    """A 200 ``application/json`` body of ``size`` bytes (a completion padded with spaces)."""

    size: int = 50 * 1000 * 1000


@dataclass(frozen=True)
class HugeError(Step):
    """An error status whose JSON ``error.message`` is ``size`` characters long."""

    code: int = 503
    size: int = 10 * 1000 * 1000


@dataclass(frozen=True)
class DeepJson(Step):
    """An error status whose JSON body nests ``depth`` lists inside ``error``."""

    code: int = 503
    depth: int = 100_000


@dataclass(frozen=True)
class LongStream(Step):
    """A stream of ``chunks`` content chunks of ``text`` each, then ``[DONE]`` (a JSON
    completion of the joined text when the request did not ask for a stream)."""

    chunks: int = 50_000
    text: str = "x"


@dataclass(frozen=True)
class HugeEvent(Step):
    """A stream whose first event is one ``data:`` line of ``size`` characters, sent
    without ever ending it."""

    size: int = 50 * 1000 * 1000


@functools.lru_cache(maxsize=2)
def gzip_bomb(decoded: int) -> bytes:
    """A gzip member that inflates to ``decoded`` bytes: a JSON-looking prefix, then zeros."""
    out = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [out.compress(b'{"id": "bomb", "pad": "')]
    zeros = bytes(_MIB)
    left = decoded
    while left > 0:
        parts.append(out.compress(zeros[: min(left, _MIB)]))
        left -= _MIB
    parts.append(out.flush())
    return b"".join(parts)


def _head(conn: socket.socket, code: int, ctype: str, length: int, extra: str = "") -> None:
    head = (
        f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    )
    conn.sendall(head.encode("latin-1"))


def _send_pieces(conn: socket.socket, pieces: Iterator[bytes]) -> None:
    for piece in pieces:
        conn.sendall(piece)


def _padded(prefix: bytes, size: int, fill: bytes, suffix: bytes) -> Iterator[bytes]:
    """``prefix + fill * n + suffix`` of ``size`` bytes in all, 1 MiB at a time."""
    yield prefix
    left = max(0, size - len(prefix) - len(suffix))
    block = fill * (_MIB // len(fill))
    while left > 0:
        piece = block[: min(left, len(block))]
        left -= len(piece)
        yield piece
    yield suffix


def _answer_bomb(server: FaultServer, conn: socket.socket, step: Step, stream: bool) -> bool:
    assert isinstance(step, GzipBomb)
    body = gzip_bomb(step.decoded)
    _head(conn, 200, "application/json", len(body), "Content-Encoding: gzip\r\n")
    _send_pieces(conn, (body[i : i + 65536] for i in range(0, len(body), 65536)))
    return True


def _answer_huge_body(server: FaultServer, conn: socket.socket, step: Step, stream: bool) -> bool:
    assert isinstance(step, HugeBody)
    prefix = b'{"id": "huge", "object": "chat.completion", "choices": [{"index": 0, '
    suffix = b'"message": {"role": "assistant", "content": "big"}}]}'
    _head(conn, 200, "application/json", max(step.size, len(prefix) + len(suffix)))
    _send_pieces(conn, _padded(prefix, step.size, b" ", suffix))
    return True


def _answer_huge_error(server: FaultServer, conn: socket.socket, step: Step, stream: bool) -> bool:
    assert isinstance(step, HugeError)
    prefix, suffix = b'{"error": {"message": "', b'", "type": "test_fault"}}'
    _head(conn, step.code, "application/json", max(step.size, len(prefix) + len(suffix)))
    _send_pieces(conn, _padded(prefix, step.size, b"E", suffix))
    return True


def _answer_deep_json(server: FaultServer, conn: socket.socket, step: Step, stream: bool) -> bool:
    assert isinstance(step, DeepJson)
    body = b'{"error": ' + b"[" * step.depth + b"]" * step.depth + b"}"
    _head(conn, step.code, "application/json", len(body))
    conn.sendall(body)
    return True


def _answer_long_stream(server: FaultServer, conn: socket.socket, step: Step, stream: bool) -> bool:
    assert isinstance(step, LongStream)
    base = {"id": "chatcmpl-long", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": "test-model"}  # fmt: skip
    if not stream:
        message = {"role": "assistant", "content": step.text * step.chunks}
        body = {**base, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip
        data = json.dumps(body).encode()
        _head(conn, 200, "application/json", len(data))
        conn.sendall(data)
        return True
    writer = ChunkedWriter(conn, "text/event-stream")
    writer.write(sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
    one = sse({**base, "choices": [{"index": 0, "delta": {"content": step.text}}]})
    batch = 1000
    for start in range(0, step.chunks, batch):
        writer.write(one * min(batch, step.chunks - start))
    final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    writer.write(sse(final) + b"data: [DONE]\n\n")
    writer.end()
    return True


def _answer_huge_event(server: FaultServer, conn: socket.socket, step: Step, stream: bool) -> bool:
    assert isinstance(step, HugeEvent)
    writer = ChunkedWriter(conn, "text/event-stream")
    for piece in _padded(b"data: ", step.size, b"a", b""):
        if piece:
            writer.write(piece)
    writer.end()
    return True


_HOSTILE: dict[type[Step], Callable[[FaultServer, socket.socket, Step, bool], bool]] = {
    GzipBomb: _answer_bomb,
    HugeBody: _answer_huge_body,
    HugeError: _answer_huge_error,
    DeepJson: _answer_deep_json,
    LongStream: _answer_long_stream,
    HugeEvent: _answer_huge_event,
}
ANSWERS.update(_HOSTILE)
