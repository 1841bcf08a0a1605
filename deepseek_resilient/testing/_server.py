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
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Chaos",
    "ContentFilter",
    "ContextLengthExceeded",
    "CutStream",
    "Echo",
    "FaultServer",
    "MalformedEvent",
    "NotJson",
    "Ok",
    "Outage",
    "RecordedRequest",
    "RejectPrefill",
    "Reset",
    "RoleOnly",
    "Rule",
    "Silent",
    "SlowFirstToken",
    "Stall",
    "StallAfter",
    "Status",
    "Step",
    "StreamError",
]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
            403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


# ----------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Step:
    """One scripted answer. ``delay``: seconds to wait before answering (latency)."""

    delay: float = field(default=0.0, kw_only=True)


@dataclass(frozen=True)
class Ok(Step):
    """A successful completion (JSON, or SSE chunks for a streaming request)."""

    content: str = "Hello from the test server."
    reasoning_content: str | None = None
    model: str = "test-model"
    extra: dict[str, Any] | None = None
    """Extra top-level fields to send (unknown fields must survive)."""
    keepalives: int = 0
    """Keep-alive lines sent before the answer (blank lines, or SSE comments when streaming)."""
    chunk_interval: float = 0.0


@dataclass(frozen=True)
class Status(Step):
    """An HTTP error status with an OpenAI-style error body."""

    code: int = 503
    retry_after: str | float | None = None
    retry_after_ms: float | None = None
    message: str | None = None
    body: str | None = None
    """Raw body to send instead of the JSON error object."""


@dataclass(frozen=True)
class Reset(Step):
    """Read the request, then reset the connection (TCP RST) without answering."""


@dataclass(frozen=True)
class Stall(Step):
    """Answer 200 and then only keep-alives (blank lines / SSE comments) every ``interval``
    for ``seconds``; then send ``then`` (if given) or close the connection."""

    seconds: float = 30.0
    interval: float = 0.5
    then: Ok | None = None


@dataclass(frozen=True)
class NotJson(Step):
    """A 2xx whose body is not a completion."""

    body: str = "<html><body>server busy</body></html>"
    code: int = 200
    content_type: str = "text/html"


@dataclass(frozen=True)
class CutStream(Step):
    """Stream ``after`` content chunks, then drop the connection (no ``[DONE]``)."""

    after: int = 2
    content: str = "one two three four five six"


@dataclass(frozen=True)
class StreamError(Step):
    """Stream ``after`` content chunks, then an ``error`` event (as some providers do)."""

    after: int = 1
    code: int = 503
    message: str = "server busy"
    content: str = "one two three four"


@dataclass(frozen=True)
class Silent(Step):
    """Accept the request, then never send a byte; the connection closes after ``seconds``."""

    seconds: float = 60.0


@dataclass(frozen=True)
class SlowFirstToken(Step):
    """Answer 200 at once (with the role chunk when streaming), then only keep-alives every
    ``interval`` for ``seconds``, then the whole answer ``content``."""

    seconds: float = 20.0
    interval: float = 0.5
    content: str = "Hello from the test server."


@dataclass(frozen=True)
class StallAfter(Step):
    """Stream ``after`` content chunks of ``content``, then only keep-alives every ``interval``
    for ``seconds`` on the open connection, then drop it."""

    after: int = 2
    seconds: float = 30.0
    interval: float = 0.5
    content: str = "one two three four five six"


@dataclass(frozen=True)
class MalformedEvent(Step):
    """Stream ``content`` with ``count`` non-JSON ``data:`` events (``data``) right after the
    ``at``-th content chunk; the rest of the answer follows normally."""

    at: int = 2
    count: int = 1
    data: str = "{this is not json"
    content: str = "one two three four five six"


@dataclass(frozen=True)
class RoleOnly(Step):
    """An empty answer: streamed, a role chunk then ``[DONE]`` (llama.cpp server's reply to an
    interrupted request); else a 200 whose message has no content and no finish reason."""


@dataclass(frozen=True)
class ContextLengthExceeded(Status):
    """400 for a prompt longer than the model's context (DeepSeek's wording)."""

    code: int = 400
    message: str | None = (
        "This model's maximum context length is 65536 tokens. However, you requested 70000 "
        "tokens (69000 in the messages, 1000 in the completion). Please reduce the length of "
        "the messages or completion."
    )


@dataclass(frozen=True)
class ContentFilter(Status):
    """400 for content the provider refuses (DeepSeek's "Content Exists Risk")."""

    code: int = 400
    message: str | None = "Content Exists Risk"


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received: path, headers (lower-case; Authorization redacted), body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    step: Step

    @property
    def text(self) -> str:
        """Every message's text content, joined by newlines (for ``in`` assertions)."""
        return "\n".join(_message_texts(self.body))

    @property
    def stream(self) -> bool:
        """Whether the request asked for a stream."""
        return bool(self.body and self.body.get("stream"))


Rule = Callable[[int, "dict[str, Any] | None"], "Step | None"]
"""``rule(index, body) -> Step | None``: picks the answer to the request number ``index``
(0-based) from its JSON body; None lets ``default`` answer. Called under the server's lock."""


def _message_texts(body: dict[str, Any] | None) -> list[str]:
    messages = body.get("messages") if isinstance(body, dict) else None
    out: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):  # content parts
            out += [p["text"] for p in content if isinstance(p, dict) and "text" in p]
    return out


@dataclass(frozen=True)
class Echo:
    """A rule: answer ``Ok`` whose content is ``prefix`` + the last message's text, so a test
    can check that every answer belongs to its own request."""

    prefix: str = "echo: "

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step:
        texts = _message_texts(body)
        done = _prefix_of(body)
        if done is None:
            return Ok(self.prefix + (texts[-1] if texts else ""))
        # A continuation: the answer to the message before the prefix, minus the prefix.
        answer = self.prefix + (texts[-2] if len(texts) > 1 else "")
        return Ok(answer[len(done) :] if answer.startswith(done) else answer)


def _prefix_of(body: dict[str, Any] | None) -> str | None:
    """The assistant prefix a continuation request asks to go on from, else None."""
    messages = body.get("messages") if isinstance(body, dict) else None
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, dict) and last.get("role") == "assistant" and last.get("prefix"):
        content = last.get("content")
        return content if isinstance(content, str) else ""
    return None


@dataclass(frozen=True)
class RejectPrefill:
    """A rule: a server that refuses prefix completion. A request whose last message is an
    assistant message (a prefill) gets 400; any other falls through (None)."""

    message: str = "the last message must have role user"

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        messages = body.get("messages") if isinstance(body, dict) else None
        last = messages[-1] if isinstance(messages, list) and messages else None
        if isinstance(last, dict) and last.get("role") == "assistant":
            return Status(400, message=self.message)
        return None


class Outage:
    """A rule: ``during`` (default 503) while ``start <= clock.now() < end``, else None (the
    script, then ``default``, answers). With a ``testing.FakeClock`` a test scripts "down for
    60 s, then healthy" without waiting."""

    def __init__(self, clock: Any, start: float, end: float, *, during: Step | None = None) -> None:
        self.clock = clock
        self.start = start
        self.end = end
        self.during = during or Status(503)
        self.served = 0

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        if self.start <= self.clock.now() < self.end:
            self.served += 1
            return self.during
        return None


class Chaos:
    """A seeded random mix of faults, as a rule: ``Chaos(seed, [(0.3, Status(503)),
    (0.1, Status(429, retry_after=1)), (0.05, Reset())], otherwise=Echo())``.

    Each arriving request draws from one ``random.Random(seed)``: the n-th request to arrive
    gets the n-th draw, so a run's fault counts are reproducible (which request meets which
    fault depends on arrival order). ``counts`` tallies the steps served by type name."""

    def __init__(
        self,
        seed: int,
        mix: Sequence[tuple[float, Step]],
        *,
        otherwise: Step | Rule | None = None,
    ) -> None:
        total = sum(weight for weight, _ in mix)
        if any(weight < 0 for weight, _ in mix) or total > 1.0 + 1e-9:
            raise ValueError(f"weights must be >= 0 and sum to at most 1, got {total:g}")
        self.seed = seed
        self.mix = list(mix)
        self.otherwise: Step | Rule = otherwise if otherwise is not None else Echo()
        self.counts: dict[str, int] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        with self._lock:
            draw = self._random.random()
        step: Step | None = None
        for weight, candidate in self.mix:
            if draw < weight:
                step = candidate
                break
            draw -= weight
        if step is None:
            step = (
                self.otherwise if isinstance(self.otherwise, Step) else self.otherwise(index, body)
            )
        with self._lock:
            name = type(step).__name__ if step is not None else "default"
            self.counts[name] = self.counts.get(name, 0) + 1
        return step

    def __repr__(self) -> str:
        return f"Chaos(seed={self.seed}, mix={self.mix!r})"


# ----------------------------------------------------------------------------- server


class _Closed(Exception):
    pass


class FaultServer:
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
        self._script: deque[Step] = deque()
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
        redacted = {k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items()}
        with self._lock:
            index = len(self.requests)
            step = self._pinned.pop(index + 1, None)
            if step is None and self._script:
                step = self._script.popleft()
            if step is None and self.rule is not None:
                step = self.rule(index, body)
            step = step or self.default
            self.requests.append(RecordedRequest(path, redacted, body, step))
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
                request = _read_request(reader)
                if request is None:
                    return
                path, headers, raw = request
                if not self._handle(conn, path, headers, raw):
                    return
        except (_Closed, OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            reader.close()
            _hard_close(conn, graceful=True)

    def _handle(self, conn: socket.socket, path: str, headers: dict[str, str], raw: bytes) -> bool:
        """Answer one request; False when the connection must close."""
        route = path.partition("?")[0].rstrip("/")  # a query string doesn't change the route
        if not route.endswith("/chat/completions"):
            if route.endswith("/models"):
                _send_json(conn, 200, {"object": "list", "data": [{"id": "test-model"}]})
                return True
            _send_json(conn, 404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return True
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        step = self._next_step(path, headers, body)
        if step.delay and self._stop.wait(step.delay):
            return False
        stream = bool(body and body.get("stream"))
        return _ANSWER[type(step)](self, conn, step, stream)

    # -- answers (each returns True to keep the connection alive)

    def _completion(self, step: Ok) -> dict[str, Any]:
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": step.content}
        if step.reasoning_content is not None:
            message["reasoning_content"] = step.reasoning_content
        words = max(1, len(step.content.split()))
        out: dict[str, Any] = {
            "id": f"chatcmpl-test-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": step.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": words, "total_tokens": 5 + words,
                      "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 5},
        }  # fmt: skip
        out.update(step.extra or {})
        return out

    def _chunks(
        self, step: Ok | CutStream | StreamError | SlowFirstToken | StallAfter | MalformedEvent
    ) -> Iterator[bytes]:
        n = next(self._ids)
        model = step.model if isinstance(step, Ok) else "test-model"
        base = {"id": f"chatcmpl-test-{n}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}  # fmt: skip
        words = step.content.split(" ")
        yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        if isinstance(step, Ok) and step.reasoning_content:
            delta = {"reasoning_content": step.reasoning_content}
            yield _sse({**base, "choices": [{"index": 0, "delta": delta}]})
        for i, word in enumerate(words):
            text = word if i == len(words) - 1 else word + " "
            yield _sse({**base, "choices": [{"index": 0, "delta": {"content": text}}]})
        usage = {"prompt_tokens": 5, "completion_tokens": len(words),
                 "total_tokens": 5 + len(words)}  # fmt: skip
        if isinstance(step, Ok) and step.extra and isinstance(step.extra.get("usage"), dict):
            usage = step.extra["usage"]  # the same usage as the step's whole completion
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield _sse({**final, "usage": usage})
        yield b"data: [DONE]\n\n"

    def _answer_ok(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Ok)
        if not stream and not step.keepalives:
            _send_json(conn, 200, self._completion(step))
            return True
        writer = _ChunkedWriter(conn, "text/event-stream" if stream else "application/json")
        for _ in range(step.keepalives):
            writer.write(b": keep-alive\n\n" if stream else b"\n")
        if stream:
            for part in self._chunks(step):
                writer.write(part)
                if step.chunk_interval and self._stop.wait(step.chunk_interval):
                    raise _Closed
        else:
            writer.write(json.dumps(self._completion(step)).encode())
        writer.end()
        return True

    def _answer_status(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Status)
        headers: dict[str, str] = {}
        if step.retry_after is not None:
            headers["Retry-After"] = str(step.retry_after)
        if step.retry_after_ms is not None:
            headers["retry-after-ms"] = str(step.retry_after_ms)
        if step.body is not None:
            _send(conn, step.code, step.body.encode(), "text/plain", headers)
        else:
            message = step.message or _REASONS.get(step.code, "error")
            error = {"error": {"message": message, "type": "test_fault", "code": step.code}}
            _send(conn, step.code, json.dumps(error).encode(), "application/json", headers)
        return True

    def _answer_reset(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        _hard_close(conn)
        return False

    def _answer_stall(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Stall)
        writer = _ChunkedWriter(conn, "text/event-stream" if stream else "application/json")
        end = time.monotonic() + step.seconds
        while time.monotonic() < end:
            writer.write(b": keep-alive\n\n" if stream else b"\n")
            if self._stop.wait(min(step.interval, max(0.0, end - time.monotonic()))):
                raise _Closed
        if step.then is None:
            _hard_close(conn)
            return False
        if stream:
            for part in self._chunks(step.then):
                writer.write(part)
        else:
            writer.write(json.dumps(self._completion(step.then)).encode())
        writer.end()
        return True

    def _answer_not_json(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, NotJson)
        _send(conn, step.code, step.body.encode(), step.content_type, {})
        return True

    def _answer_cut(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, (CutStream, StreamError))
        writer = _ChunkedWriter(conn, "text/event-stream")
        parts = list(self._chunks(step))  # role chunk, content chunks..., final, DONE
        for part in parts[: 1 + step.after]:
            writer.write(part)
        if isinstance(step, StreamError):
            error = {"error": {"message": step.message, "type": "server_error", "code": step.code}}
            writer.write(_sse(error))
            writer.end()
            return True
        _hard_close(conn)
        return False

    def _answer_silent(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Silent)
        self._stop.wait(step.seconds)
        _hard_close(conn)
        return False

    def _keepalives(
        self, writer: _ChunkedWriter, stream: bool, seconds: float, every: float
    ) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            writer.write(b": keep-alive\n\n" if stream else b"\n")
            if self._stop.wait(min(every, max(0.0, end - time.monotonic()))):
                raise _Closed

    def _answer_slow(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, SlowFirstToken)
        writer = _ChunkedWriter(conn, "text/event-stream" if stream else "application/json")
        parts = list(self._chunks(step)) if stream else []
        if stream:
            writer.write(parts.pop(0))  # the role chunk: no content yet
        self._keepalives(writer, stream, step.seconds, step.interval)
        if stream:
            for part in parts:
                writer.write(part)
        else:
            writer.write(json.dumps(self._completion(Ok(step.content))).encode())
        writer.end()
        return True

    def _answer_stall_after(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, StallAfter)
        writer = _ChunkedWriter(conn, "text/event-stream")
        for part in list(self._chunks(step))[: 1 + step.after]:
            writer.write(part)
        self._keepalives(writer, True, step.seconds, step.interval)
        _hard_close(conn)
        return False

    def _answer_malformed(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, MalformedEvent)
        writer = _ChunkedWriter(conn, "text/event-stream")
        for i, part in enumerate(self._chunks(step)):
            writer.write(part)
            if i == step.at:  # the role chunk is part 0, so this follows the at-th content
                for _ in range(step.count):
                    writer.write(b"data: " + step.data.encode() + b"\n\n")
        writer.end()
        return True

    def _answer_role_only(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        n = next(self._ids)
        base = {"id": f"chatcmpl-test-{n}", "created": int(time.time()), "model": "test-model"}
        if not stream:
            message = {"role": "assistant", "content": None}
            choice = {"index": 0, "message": message, "finish_reason": None}
            _send_json(conn, 200, {**base, "object": "chat.completion", "choices": [choice]})
            return True
        writer = _ChunkedWriter(conn, "text/event-stream")
        role = {"index": 0, "delta": {"role": "assistant"}}
        writer.write(_sse({**base, "object": "chat.completion.chunk", "choices": [role]}))
        writer.write(b"data: [DONE]\n\n")
        writer.end()
        return True


_ANSWER: dict[type[Step], Callable[[FaultServer, socket.socket, Step, bool], bool]] = {
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


# ----------------------------------------------------------------------------- HTTP bits


def _read_request(reader: Any) -> tuple[str, dict[str, str], bytes] | None:
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


def _send(conn: socket.socket, code: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
    head = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Status')}", f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}"]  # fmt: skip
    head += [f"{k}: {v}" for k, v in headers.items()]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _send_json(conn: socket.socket, code: int, obj: object) -> None:
    _send(conn, code, json.dumps(obj).encode(), "application/json", {})


def _sse(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class _ChunkedWriter:
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


def _hard_close(conn: socket.socket, graceful: bool = False) -> None:
    """Close; unless graceful, with SO_LINGER 0 so the peer sees a reset."""
    try:
        if not graceful:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    except OSError:
        pass
