"""How ``FaultServer`` writes each step's answer: completions, chunk streams, stalls, cuts and
errors (one method per kind of step, each returning True to keep the connection alive)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from ._steps import (
    CutStream,
    MalformedEvent,
    NotJson,
    Ok,
    Silent,
    SlowFirstToken,
    Stall,
    StallAfter,
    Status,
    Step,
    StreamError,
)
from ._wire import REASONS, ChunkedWriter, Closed, hard_close, send, send_json, sse

__all__ = ["Answers"]


class Answers:
    """The answer writers ``FaultServer`` inherits; they use its id counter and stop event."""

    _ids: Iterator[int]
    _stop: threading.Event

    def _completion(self, step: Ok) -> dict[str, Any]:
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": step.content}
        if step.reasoning_content is not None:
            message["reasoning_content"] = step.reasoning_content
        finish = "stop"
        if step.tool_calls:
            message["content"] = step.content or None
            message["tool_calls"] = step.wire_tool_calls()
            finish = "tool_calls"
        words = max(1, len(step.content.split()))
        out: dict[str, Any] = {
            "id": f"chatcmpl-test-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": step.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
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
        yield sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        if isinstance(step, Ok) and step.reasoning_content:
            delta = {"reasoning_content": step.reasoning_content}
            yield sse({**base, "choices": [{"index": 0, "delta": delta}]})
        calls = step.wire_tool_calls() if isinstance(step, Ok) else []
        for i, word in enumerate(words if step.content or not calls else []):
            text = word if i == len(words) - 1 else word + " "
            yield sse({**base, "choices": [{"index": 0, "delta": {"content": text}}]})
        yield from _tool_call_chunks(base, calls)
        usage = {"prompt_tokens": 5, "completion_tokens": len(words),
                 "total_tokens": 5 + len(words)}  # fmt: skip
        if isinstance(step, Ok) and step.extra and isinstance(step.extra.get("usage"), dict):
            usage = step.extra["usage"]  # the same usage as the step's whole completion
        finish = "tool_calls" if calls else "stop"
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        yield sse({**final, "usage": usage})
        yield b"data: [DONE]\n\n"

    def _answer_ok(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Ok)
        if not stream and not step.keepalives:
            send_json(conn, 200, self._completion(step))
            return True
        writer = ChunkedWriter(conn, "text/event-stream" if stream else "application/json")
        for _ in range(step.keepalives):
            writer.write(b": keep-alive\n\n" if stream else b"\n")
        if stream:
            for part in self._chunks(step):
                writer.write(part)
                if step.chunk_interval and self._stop.wait(step.chunk_interval):
                    raise Closed
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
            send(conn, step.code, step.body.encode(), "text/plain", headers)
        else:
            message = step.message or REASONS.get(step.code, "error")
            error = {"error": {"message": message, "type": "test_fault", "code": step.code}}
            send(conn, step.code, json.dumps(error).encode(), "application/json", headers)
        return True

    def _answer_reset(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        hard_close(conn)
        return False

    def _answer_stall(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Stall)
        writer = ChunkedWriter(conn, "text/event-stream" if stream else "application/json")
        end = time.monotonic() + step.seconds
        while time.monotonic() < end:
            writer.write(b": keep-alive\n\n" if stream else b"\n")
            if self._stop.wait(min(step.interval, max(0.0, end - time.monotonic()))):
                raise Closed
        if step.then is None:
            hard_close(conn)
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
        send(conn, step.code, step.body.encode(), step.content_type, {})
        return True

    def _answer_cut(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, (CutStream, StreamError))
        writer = ChunkedWriter(conn, "text/event-stream")
        parts = list(self._chunks(step))  # role chunk, content chunks..., final, DONE
        for part in parts[: 1 + step.after]:
            writer.write(part)
        if isinstance(step, StreamError):
            error = {"error": {"message": step.message, "type": "server_error", "code": step.code}}
            writer.write(sse(error))
            writer.end()
            return True
        hard_close(conn)
        return False

    def _answer_silent(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, Silent)
        self._stop.wait(step.seconds)
        hard_close(conn)
        return False

    def _keepalives(
        self, writer: ChunkedWriter, stream: bool, seconds: float, every: float
    ) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            writer.write(b": keep-alive\n\n" if stream else b"\n")
            if self._stop.wait(min(every, max(0.0, end - time.monotonic()))):
                raise Closed

    def _answer_slow(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, SlowFirstToken)
        writer = ChunkedWriter(conn, "text/event-stream" if stream else "application/json")
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
        writer = ChunkedWriter(conn, "text/event-stream")
        for part in list(self._chunks(step))[: 1 + step.after]:
            writer.write(part)
        self._keepalives(writer, True, step.seconds, step.interval)
        hard_close(conn)
        return False

    def _answer_malformed(self, conn: socket.socket, step: Step, stream: bool) -> bool:
        assert isinstance(step, MalformedEvent)
        writer = ChunkedWriter(conn, "text/event-stream")
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
            send_json(conn, 200, {**base, "object": "chat.completion", "choices": [choice]})
            return True
        writer = ChunkedWriter(conn, "text/event-stream")
        role = {"index": 0, "delta": {"role": "assistant"}}
        writer.write(sse({**base, "object": "chat.completion.chunk", "choices": [role]}))
        writer.write(b"data: [DONE]\n\n")
        writer.end()
        return True


def _tool_call_chunks(base: dict[str, Any], calls: list[dict[str, Any]]) -> Iterator[bytes]:
    """Each call as deltas: its id, type and name first, then its arguments in two pieces."""
    for index, call in enumerate(calls):
        function = call["function"]
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": function["name"], "arguments": ""}}  # fmt: skip
        yield sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
        arguments = function["arguments"]
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            if piece:
                delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                yield sse({**base, "choices": [{"index": 0, "delta": delta}]})
