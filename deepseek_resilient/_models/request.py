"""The request side: ``ChatMessage`` and ``ChatRequest``, validated before any I/O.

Schemas are built on first use (``defer_build``), not at ``import deepseek_resilient``. No
``from __future__ import annotations`` here or in ``_response``: pydantic would compile each
field's annotation string when the class is built (about a quarter of that import cost).
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DEFAULT_COMPLETION_TOKENS", "ChatMessage", "ChatRequest", "Role", "WireModel"]

Role = Literal["system", "user", "assistant", "tool", "developer"]


#: Completion tokens assumed when a request sets no ``max_tokens``.
DEFAULT_COMPLETION_TOKENS = 256


class WireModel(BaseModel):
    """A model that keeps unknown fields, so nothing a provider sends is dropped."""

    model_config = ConfigDict(extra="allow", defer_build=True)


# ----------------------------------------------------------------------------- request


class ChatMessage(WireModel):
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
    def _check_role_fields(self) -> "ChatMessage":
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a 'tool' message needs 'tool_call_id'")
        if self.role == "assistant":
            if self.content is None and not self.tool_calls:
                raise ValueError("an 'assistant' message needs 'content' or 'tool_calls'")
        elif self.content is None:
            raise ValueError(f"a {self.role!r} message needs 'content'")
        return self


#: Request fields that validation leaves as a str, an int, a bool or a bounded (so finite) float.
_PLAIN_FIELDS = frozenset(
    {
        "messages", "model", "temperature", "top_p", "max_tokens", "max_completion_tokens",
        "seed", "n", "stream", "frequency_penalty", "presence_penalty", "user", "user_id",
    }
)  # fmt: skip
_MESSAGE_TEXT = frozenset({"role", "content"})


class ChatRequest(BaseModel):
    """A validated chat request: every parameter of the OpenAI chat API, DeepSeek's
    ``thinking`` and ``user_id``, and per-call ``extra_headers`` / ``extra_query`` /
    ``extra_body``. Unknown parameters are refused: put them in ``extra_body``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

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
        # ``model_dump``'s serializer call without its Python wrapper: the same dict.
        body: dict[str, Any] = self.__pydantic_serializer__.to_python(
            self, exclude_none=True, exclude=_NOT_IN_BODY
        )
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

    def is_plain_text(self) -> bool:
        """Only scalar fields (str, number, bool) and text messages (``role`` and
        ``content``): this request's JSON holds no mapping a caller built, so its field
        order is fixed and only its strings can be invalid JSON."""
        if not self.model_fields_set <= _PLAIN_FIELDS:
            return False
        for message in self.messages:
            if type(message.content) is not str or message.__pydantic_extra__:
                return False
            if not message.model_fields_set <= _MESSAGE_TEXT:
                return False
        return True

    def estimate_tokens(self) -> int:
        """A cheap upper-ish estimate of the tokens this request will use: ~4 characters per
        prompt token, plus ``max_tokens`` (or ``DEFAULT_COMPLETION_TOKENS``) for the answer.
        Rate limits charge it; the router checks it against a context window."""
        prompt = len(self.prompt_text()) // 4 + 4 * len(self.messages)
        return prompt + (self.max_tokens or DEFAULT_COMPLETION_TOKENS)


_NOT_IN_BODY = {"extra_body", "extra_headers", "extra_query", "model", "stream"}
