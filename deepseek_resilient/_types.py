"""Request, response and chunk models, wire-compatible with the OpenAI chat API.

Response models keep every field a provider sends (DeepSeek's ``reasoning_content``,
``prompt_cache_hit_tokens``, and anything unknown) because they allow extra fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

__all__ = [
    "Attempt",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatMessage",
    "ChatRequest",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "Recovery",
    "Route",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool", "developer"]
CacheStatus = Literal["hit", "miss", "stale", "bypass"]


class _Wire(BaseModel):
    """A model that keeps unknown fields, so nothing a provider sends is dropped."""

    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------- request


class ChatMessage(_Wire):
    """One message of a conversation. Dicts in ``messages=`` are validated into this."""

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None

    @model_validator(mode="after")
    def _check_role_fields(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a 'tool' message needs 'tool_call_id'")
        if self.role == "assistant":
            if self.content is None and not self.tool_calls:
                raise ValueError("an 'assistant' message needs 'content' or 'tool_calls'")
        elif self.content is None:
            raise ValueError(f"a {self.role!r} message needs 'content'")
        return self


class ChatRequest(BaseModel):
    """A validated chat request. Unknown parameters go in ``extra_body``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = None
    stream_options: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None

    @property
    def deterministic(self) -> bool:
        """Greedy decoding or a fixed seed: the same request should give the same answer."""
        return self.temperature == 0 or self.seed is not None

    def to_wire(self, model: str) -> dict[str, Any]:
        """The JSON body for an OpenAI-compatible endpoint, with the provider's model."""
        body = self.model_dump(exclude_none=True, exclude={"extra_body", "model", "stream"})
        body["model"] = self.model or model
        if self.stream:
            body["stream"] = True
        if self.extra_body:
            body.update(self.extra_body)
        return body

    def prompt_text(self) -> str:
        """All message text, for token estimates."""
        parts: list[str] = []
        for m in self.messages:
            if isinstance(m.content, str):
                parts.append(m.content)
            elif m.content:
                parts.extend(str(p.get("text", "")) for p in m.content)
        return "\n".join(parts)


# ----------------------------------------------------------------------------- route


class Attempt(BaseModel):
    """One try at one provider, or a skip of it."""

    model_config = ConfigDict(frozen=True)

    provider: str
    outcome: Literal["ok", "error", "skipped", "cancelled"]
    error: str | None = None
    """The error's type name (``"ServiceUnavailableError"``), never its text."""
    status_code: int | None = None
    latency: float = 0.0


class Recovery(BaseModel):
    """One splice in a committed stream: it broke after ``at`` characters had reached the
    caller (content, plus reasoning) and went on from ``provider``. ``how``: ``"continue"``
    (the provider continued the delivered text as an assistant prefix) or ``"restart"`` (it
    answered again from scratch and only the part extending the delivered text was sent)."""

    model_config = ConfigDict(frozen=True)

    at: int
    provider: str
    how: Literal["continue", "restart"]
    error: str
    """The type name of what broke the stream (``APIConnectionError``, ``APITimeoutError``)."""


class Route(BaseModel):
    """How a request was answered: who answered, every attempt, the cache, the time.

    ``recoveries``: each splice of a stream that broke after its first content and was
    recovered. ``skipped_events``: malformed stream events skipped (one bad ``data:`` line
    in an otherwise good stream is dropped, not fatal)."""

    provider: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    cache: CacheStatus = "bypass"
    coalesced: bool = False
    elapsed: float = 0.0
    recoveries: list[Recovery] = Field(default_factory=list)
    skipped_events: int = 0

    def summary(self) -> str:
        """One line: ``answered by local in 0.41 s (deepseek: APIConnectionError x3)``."""
        failed: dict[str, dict[str, int]] = {}
        for a in self.attempts:
            if a.outcome != "ok":
                errors = failed.setdefault(a.provider, {})
                key = a.error or a.outcome
                errors[key] = errors.get(key, 0) + 1
        notes = [
            f"{p}: " + ", ".join(e + (f" x{n}" if n > 1 else "") for e, n in errs.items())
            for p, errs in failed.items()
        ]
        who = f"answered by {self.provider}" if self.provider else "not answered"
        extra = [f"cache {self.cache}"] if self.cache in ("hit", "stale") else []
        if self.coalesced:
            extra.append("coalesced")
        extra += notes
        extra += [f"{r.how} on {r.provider} at char {r.at} after {r.error}"
                  for r in self.recoveries]  # fmt: skip
        if self.skipped_events:
            extra.append(f"{self.skipped_events} malformed event(s) skipped")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"{who} in {self.elapsed:.2f} s{tail}"


# ----------------------------------------------------------------------------- response


class Usage(_Wire):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_cache_hit_tokens: int | None = None
    prompt_cache_miss_tokens: int | None = None


class ChatCompletionMessage(_Wire):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class Choice(_Wire):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class _Routed(_Wire):
    _route: Route | None = PrivateAttr(default=None)

    @property
    def route(self) -> Route | None:
        """How this answer was obtained (set by the client; ``None`` on a bare model)."""
        return self._route


class ChatCompletion(_Routed):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(min_length=1)
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ChoiceDelta(_Wire):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChunkChoice(_Wire):
    index: int = 0
    delta: ChoiceDelta = Field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatCompletionChunk(_Wire):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def has_content(self) -> bool:
        """True when the chunk carries output (content, reasoning or a tool call)."""
        return any(
            c.delta.content or c.delta.reasoning_content or c.delta.tool_calls for c in self.choices
        )
