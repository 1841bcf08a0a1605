"""The steps a ``FaultServer`` answers with (one scripted answer each) and the record of a
request it received."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ContentFilter",
    "ContextLengthExceeded",
    "CutStream",
    "MalformedEvent",
    "NotJson",
    "Ok",
    "RecordedRequest",
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
    "ToolCall",
    "message_texts",
    "prefix_of",
]


@dataclass(frozen=True)
class Step:
    """One scripted answer. ``delay``: seconds to wait before answering (latency)."""

    delay: float = field(default=0.0, kw_only=True)


@dataclass(frozen=True)
class ToolCall:
    """A tool call in an ``Ok`` answer: ``arguments`` as a dict (sent as JSON) or a string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    """The call's id (default: ``call_<n>`` numbered in the answer)."""


@dataclass(frozen=True)
class Ok(Step):
    """A successful completion (JSON, or SSE chunks for a streaming request). With
    ``tool_calls``, the answer calls those tools (``finish_reason`` ``"tool_calls"``; streamed
    as tool-call deltas, the arguments in pieces) after any ``content``."""

    content: str = "Hello from the test server."
    reasoning_content: str | None = None
    model: str = "test-model"
    extra: dict[str, Any] | None = None
    """Extra top-level fields to send (unknown fields must survive)."""
    keepalives: int = 0
    """Keep-alive lines sent before the answer (blank lines, or SSE comments when streaming)."""
    chunk_interval: float = 0.0
    tool_calls: tuple[ToolCall, ...] = ()

    def wire_tool_calls(self) -> list[dict[str, Any]]:
        """The tool calls as the OpenAI wire has them."""
        return [
            {"id": call.id or f"call_{i + 1}", "type": "function",
             "function": {"name": call.name, "arguments": call.arguments
                          if isinstance(call.arguments, str) else json.dumps(call.arguments)}}
            for i, call in enumerate(self.tool_calls)
        ]  # fmt: skip


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
    """What the server received: path, headers (lower-case; Authorization redacted), body.
    ``authorization_is(value)`` tells whether the Authorization header was exactly ``value``
    (only a digest of it is kept)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    step: Step
    auth_digest: str | None = field(default=None, repr=False)
    #: When the server received it (``time.monotonic()`` of the server's process): count
    #: admissions by it rather than by when each client saw its answer.
    received: float = field(default_factory=time.monotonic, repr=False, compare=False)

    @staticmethod
    def digest(value: str) -> str:
        """The SHA-256 of a header value, as kept in ``auth_digest``."""
        return hashlib.sha256(value.encode("latin-1", "replace")).hexdigest()

    def authorization_is(self, value: str) -> bool:
        """True when the request's Authorization header was exactly ``value``
        (e.g. ``"Basic dXNlcjpwdw=="``)."""
        return self.auth_digest is not None and hmac.compare_digest(
            self.auth_digest, self.digest(value)
        )

    @property
    def text(self) -> str:
        """Every message's text content, joined by newlines (for ``in`` assertions)."""
        return "\n".join(message_texts(self.body))

    @property
    def stream(self) -> bool:
        """Whether the request asked for a stream."""
        return bool(self.body and self.body.get("stream"))


Rule = Callable[[int, "dict[str, Any] | None"], "Step | None"]
"""``rule(index, body) -> Step | None``: picks the answer to the request number ``index``
(0-based) from its JSON body; None lets ``default`` answer. Called under the server's lock."""


def message_texts(body: dict[str, Any] | None) -> list[str]:
    messages = body.get("messages") if isinstance(body, dict) else None
    out: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):  # content parts
            out += [p["text"] for p in content if isinstance(p, dict) and "text" in p]
    return out


def prefix_of(body: dict[str, Any] | None) -> str | None:
    """The assistant prefix a continuation request asks to go on from, else None."""
    messages = body.get("messages") if isinstance(body, dict) else None
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, dict) and last.get("role") == "assistant" and last.get("prefix"):
        content = last.get("content")
        return content if isinstance(content, str) else ""
    return None
