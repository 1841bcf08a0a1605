"""HTTP/1.1 over a plain socket, as much as ``FaultServer`` needs: read a request, send a
response whole or chunked, close with a reset."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

__all__ = [
    "REASONS",
    "ChunkedWriter",
    "Closed",
    "hard_close",
    "read_request",
    "send",
    "send_json",
    "sse",
]

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
            403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


class Closed(Exception):
    """The server stopped while an answer was being written."""


def read_request(reader: Any) -> tuple[str, dict[str, str], bytes] | None:
    line = reader.readline(65536)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) < 2:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    while True:
        h = reader.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    raw = reader.read(length) if length else b""
    return parts[1], headers, raw


def send(conn: socket.socket, code: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
    head = [f"HTTP/1.1 {code} {REASONS.get(code, 'Status')}", f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}"]  # fmt: skip
    head += [f"{k}: {v}" for k, v in headers.items()]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def send_json(conn: socket.socket, code: int, obj: object) -> None:
    send(conn, code, json.dumps(obj).encode(), "application/json", {})


def sse(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class ChunkedWriter:
    """Writes a 200 response with chunked transfer encoding, piece by piece."""

    def __init__(self, conn: socket.socket, ctype: str) -> None:
        self.conn = conn
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n")  # fmt: skip
        conn.sendall(head.encode("latin-1"))

    def write(self, data: bytes) -> None:
        self.conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end(self) -> None:
        self.conn.sendall(b"0\r\n\r\n")


def hard_close(conn: socket.socket, graceful: bool = False) -> None:
    """Close; unless graceful, with SO_LINGER 0 so the peer sees a reset."""
    try:
        if not graceful:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    except OSError:
        pass
