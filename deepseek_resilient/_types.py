"""Request, response and chunk models, wire-compatible with the OpenAI chat API.

Response models keep every field a provider sends (DeepSeek's ``reasoning_content``,
``prompt_cache_hit_tokens``, and anything unknown) because they allow extra fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

__all__ = [
    "Attempt",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatMessage",
    "ChatRequest",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "Function",
    "Model",
    "ModelList",
    "PromptTokensDetails",
    "Recovery",
    "Route",
    "TokenLogprob",
    "TopLogprob",
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

    @model_validator(mode="before")
    @classmethod
    def _from_answer(cls, data: Any) -> Any:
        # An answer's message sent back as is (``messages.append(resp.choices[0].message)``):
        # its reasoning_content and tool_calls go with it.
        if isinstance(data, BaseModel) and not isinstance(data, ChatMessage):
            return data.model_dump(exclude_none=True)
        return data

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
    """A validated chat request: every parameter of the OpenAI chat API, DeepSeek's
    ``thinking`` and ``user_id``, and per-call ``extra_headers`` / ``extra_query`` /
    ``extra_body``. Unknown parameters are refused: put them in ``extra_body``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, int] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    reasoning_effort: str | None = None
    verbosity: str | None = None
    user: str | None = None
    safety_identifier: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prediction: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    stream_options: dict[str, Any] | None = None
    #: DeepSeek: ``{"type": "enabled" | "disabled"}`` (``True`` / ``False`` for short).
    thinking: dict[str, Any] | None = None
    #: DeepSeek: isolates content safety, KV cache and scheduling per end user.
    user_id: str | None = None
    extra_headers: dict[str, str] | None = Field(default=None, repr=False)
    extra_query: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None

    @field_validator("thinking", mode="before")
    @classmethod
    def _thinking(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"type": "enabled" if value else "disabled"}
        if isinstance(value, dict) and value.get("type") in ("enabled", "disabled"):
            return value
        if value is None:
            return None
        raise ValueError("thinking must be True, False or {'type': 'enabled' | 'disabled'}")

    @property
    def output_limit(self) -> int | None:
        """The cap on generated tokens: ``max_completion_tokens``, else ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def deterministic(self) -> bool:
        """Greedy decoding or a fixed seed: the same request should give the same answer."""
        return self.temperature == 0 or self.seed is not None

    def to_wire(self, model: str) -> dict[str, Any]:
        """The JSON body for an OpenAI-compatible endpoint, with the provider's model."""
        body = self.model_dump(exclude_none=True, exclude=_NOT_IN_BODY)
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


_NOT_IN_BODY = {"extra_body", "extra_headers", "extra_query", "model", "stream"}


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


class _Answer(_Wire):
    """Response-side models: ``to_dict()`` / ``to_json()`` as in openai-python."""

    def to_dict(
        self,
        *,
        mode: Literal["json", "python"] = "python",
        exclude_unset: bool = True,
        exclude_none: bool = False,
    ) -> dict[str, Any]:
        """The model as a dict; by default only the fields that were set (the wire shape)."""
        return self.model_dump(mode=mode, exclude_unset=exclude_unset, exclude_none=exclude_none)

    def to_json(
        self, *, indent: int | None = 2, exclude_unset: bool = True, exclude_none: bool = False
    ) -> str:
        """The model as a JSON string (see ``to_dict``)."""
        return self.model_dump_json(
            indent=indent, exclude_unset=exclude_unset, exclude_none=exclude_none
        )


class CompletionTokensDetails(_Answer):
    reasoning_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None
    audio_tokens: int | None = None


class PromptTokensDetails(_Answer):
    cached_tokens: int | None = None
    audio_tokens: int | None = None


class Usage(_Answer):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_cache_hit_tokens: int | None = None
    prompt_cache_miss_tokens: int | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    prompt_tokens_details: PromptTokensDetails | None = None


class TopLogprob(_Answer):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(_Answer):
    """One output token's log probability, with the most likely alternatives."""

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(_Answer):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class Function(_Answer):
    """The function a tool call invokes: ``arguments`` is a JSON string."""

    name: str = ""
    arguments: str = ""


class ChatCompletionMessageToolCall(_Answer):
    """A tool call in an assistant message (``function`` is None for non-function tools)."""

    id: str = ""
    type: str = "function"
    function: Function | None = None


class ChatCompletionMessage(_Answer):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("role")  # so to_dict() shows it


class Choice(_Answer):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class _Routed(_Answer):
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

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("object")  # so to_dict() shows it


class ChoiceDeltaToolCallFunction(_Answer):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(_Answer):
    """A piece of a tool call in a stream: pieces with the same ``index`` make one call."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class ChoiceDelta(_Answer):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None


class ChunkChoice(_Answer):
    index: int = 0
    delta: ChoiceDelta = Field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(_Answer):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("object")  # so to_dict() shows it

    @property
    def has_content(self) -> bool:
        """True when the chunk carries output (content, reasoning or a tool call)."""
        return any(
            c.delta.content or c.delta.reasoning_content or c.delta.tool_calls for c in self.choices
        )


# ----------------------------------------------------------------------------- models


class Model(_Answer):
    """A model the chain can answer with; ``provider`` names the provider that serves it."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = ""
    provider: str = ""


@dataclass
class ModelList:
    """``client.models.list()``: iterate it, or read ``data``."""

    data: list[Model] = field(default_factory=list)
    object: Literal["list"] = "list"

    def __iter__(self) -> Iterator[Model]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
