"""A real OpenAI-compatible HTTP server on 127.0.0.1 that injects faults on cue.

It speaks HTTP/1.1 with keep-alive over plain sockets (one thread per connection), answers
``POST /v1/chat/completions`` (JSON or SSE when the request says ``"stream": true``) from a
script of steps, counts every request and records its body. It listens on loopback only, on an
ephemeral port, and stops by itself after ``lifetime`` seconds.

    with FaultServer() as server:
        server.script(Status(503), Status(429, retry_after=1), Ok("hello"))
        client = AsyncClient([OpenAICompatible(base_url=server.base_url, ...)])

Which step answers the n-th request (1-based): a step pinned with ``on_call(n, step)``, else
the next ``script()``-ed step, else ``rule(index, body)`` (``Echo()``, a seeded ``Chaos(...)``
or any function; None falls through), else ``default``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._answers import Answers
from ._steps import (
    ContentFilter,
    ContextLengthExceeded,
    CutStream,
    MalformedEvent,
    NotJson,
    Ok,
    RecordedRequest,
    Reset,
    RoleOnly,
    Rule,
    Silent,
    SlowFirstToken,
    Stall,
    StallAfter,
    Status,
    Step,
    StreamError,
)
from ._wire import Closed, hard_close, read_request, send_json

__all__ = ["ANSWERS", "FaultServer"]


class FaultServer(Answers):
    """The fault-injecting server. Thread-safe; usable from sync and async tests alike.

    ``script(*steps)`` queues answers for the next requests, in order; when the queue is empty
    ``rule`` (if set) or ``default`` answers. ``requests`` records what arrived;
    ``calls`` counts them.
    """

    def __init__(
        self, *, default: Step | None = None, lifetime: float = 120.0, rule: Rule | None = None
    ) -> None:
        self.default: Step = default or Ok()
        self.rule = rule
        self.lifetime = lifetime
        self.requests: list[RecordedRequest] = []
        #: Requests to other endpoints (``/models``, ``/responses``...), bodies not kept.
        self.other_requests: list[RecordedRequest] = []
        self._script: deque[Step] = deque()
        self._other: deque[Step] = deque()
        self._pinned: dict[int, Step] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self.connections = 0

    # -- lifecycle

    def start(self) -> FaultServer:
        if self._sock is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        sock.settimeout(0.2)
        self._sock = sock
        self._deadline = time.monotonic() + self.lifetime
        t = threading.Thread(target=self._accept_loop, name="fault-server", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def close(self) -> None:
        """Stop accepting, drop every connection, end stalls. Idempotent."""
        self._stop.set()
        self.close_connections()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() at once
            self._sock.close()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("server not started")
        return int(self._sock.getsockname()[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it as a provider's ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting

    def script(self, *steps: Step) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._script.extend(steps)

    def script_other(self, *steps: Step) -> None:
        """Queue answers for the next requests to other endpoints (``/models``,
        ``/responses``...), e.g. ``Status(503)``; unscripted, those answer normally."""
        with self._lock:
            self._other.extend(steps)

    def on_call(self, n: int, step: Step) -> None:
        """Answer the ``n``-th request (1-based, counted since start or ``reset()``) with
        ``step``, whatever is scripted: ``server.on_call(2, Reset())``."""
        if n < 1:
            raise ValueError("calls are numbered from 1")
        with self._lock:
            self._pinned[n] = step

    def reset(self) -> None:
        """Forget queued and pinned steps and recorded requests."""
        with self._lock:
            self._script.clear()
            self._other.clear()
            self._pinned.clear()
            self.requests.clear()

    def requests_with(self, text: str) -> list[RecordedRequest]:
        """The recorded requests whose messages contain ``text``."""
        with self._lock:
            recorded = list(self.requests)
        return [r for r in recorded if text in r.text]

    @property
    def calls(self) -> int:
        """How many chat requests arrived."""
        return len(self.requests)

    def _next_step(self, path: str, headers: dict[str, str], body: dict[str, Any] | None) -> Step:
        """Pick the answer for the next request and record the request, atomically."""
        redacted = _redacted(headers)
        with self._lock:
            index = len(self.requests)
            step = self._pinned.pop(index + 1, None)
            if step is None and self._script:
                step = self._script.popleft()
            if step is None and self.rule is not None:
                step = self.rule(index, body)
            step = step or self.default
            auth = headers.get("authorization")
            digest = RecordedRequest.digest(auth) if auth is not None else None
            self.requests.append(RecordedRequest(path, redacted, body, step, digest))
        return step

    # -- connection handling

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            if time.monotonic() > self._deadline:
                self._stop.set()
                break
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(conn)
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
        self.close_connections()

    def close_connections(self) -> None:
        """Drop every open connection (their threads then end)."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                request = read_request(reader)
                if request is None:
                    return
                path, headers, raw = request
                if not self._handle(conn, path, headers, raw):
                    return
        except (Closed, OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            reader.close()
            hard_close(conn, graceful=True)

    def _handle(self, conn: socket.socket, path: str, headers: dict[str, str], raw: bytes) -> bool:
        """Answer one request; False when the connection must close."""
        route = path.partition("?")[0].rstrip("/")  # a query string doesn't change the route
        if not route.endswith("/chat/completions"):
            with self._lock:
                scripted = self._other.popleft() if self._other else None
                recorded = RecordedRequest(path, _redacted(headers), None, scripted or Ok())
                self.other_requests.append(recorded)
            if scripted is not None:
                return ANSWERS[type(scripted)](self, conn, scripted, False)
            if route.endswith("/models"):
                send_json(conn, 200, {"object": "list", "data": [{"id": "test-model"}]})
                return True
            if route.endswith("/responses"):
                send_json(conn, 200, _response_object(raw, next(self._ids)))
                return True
            send_json(conn, 404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return True
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        step = self._next_step(path, headers, body)
        if step.delay and self._stop.wait(step.delay):
            return False
        stream = bool(body and body.get("stream"))
        return ANSWERS[type(step)](self, conn, step, stream)


def _response_object(raw: bytes, n: int) -> dict[str, Any]:
    """A minimal Responses API answer: ``echo: `` + the request's ``input`` when a string."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    given = body.get("input") if isinstance(body, dict) else None
    text = "echo: " + (given if isinstance(given, str) else "")
    part = {"type": "output_text", "text": text, "annotations": []}
    message = {"type": "message", "id": f"msg_test_{n}", "status": "completed",
               "role": "assistant", "content": [part]}  # fmt: skip
    return {"id": f"resp_test_{n}", "object": "response", "created_at": int(time.time()),
            "model": "test-model", "status": "completed", "output": [message],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}  # fmt: skip


ANSWERS: dict[type[Step], Callable[[FaultServer, socket.socket, Step, bool], bool]] = {
    Ok: FaultServer._answer_ok,
    Status: FaultServer._answer_status,
    Reset: FaultServer._answer_reset,
    Stall: FaultServer._answer_stall,
    NotJson: FaultServer._answer_not_json,
    CutStream: FaultServer._answer_cut,
    StreamError: FaultServer._answer_cut,
    Silent: FaultServer._answer_silent,
    SlowFirstToken: FaultServer._answer_slow,
    StallAfter: FaultServer._answer_stall_after,
    MalformedEvent: FaultServer._answer_malformed,
    RoleOnly: FaultServer._answer_role_only,
    ContextLengthExceeded: FaultServer._answer_status,
    ContentFilter: FaultServer._answer_status,
}


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    """The request's headers as recorded: the key never kept."""
    return {k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items()}
