"""The response side, wire-compatible with the OpenAI chat API: completions, stream chunks
and model listings. Every model keeps the fields a provider sends (DeepSeek's
``reasoning_content``, ``prompt_cache_hit_tokens``, anything unknown), and has every field of
openai-python's models (``None`` when absent: ``message.refusal``, ``audio``, ``annotations``,
``function_call``, ``service_tier``...), checked field by field in tests/test_openai_fields.py.
The rarely used nested ones (audio, annotations, moderation) are in ``extras``."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from .._core.factories import empty_list
from .._core.route import Route
from .extras import (
    Annotation,
    ChatCompletionAudio,
    ChoiceDeltaAudio,
    CustomToolCall,
    Moderation,
    _Answer,
)

__all__ = [
    "Annotation",
    "ChatCompletion",
    "ChatCompletionAudio",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaAudio",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "CustomToolCall",
    "Function",
    "Model",
    "ModelList",
    "Moderation",
    "PromptTokensDetails",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
]


class CompletionTokensDetails(_Answer):
    reasoning_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None
    audio_tokens: int | None = None
    text_tokens: int | None = None


class PromptTokensDetails(_Answer):
    cached_tokens: int | None = None
    audio_tokens: int | None = None
    cache_write_tokens: int | None = None
    image_tokens: int | None = None
    text_tokens: int | None = None


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
    top_logprobs: list[TopLogprob] = Field(default_factory=empty_list)


class ChoiceLogprobs(_Answer):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class Function(_Answer):
    """The function a tool call invokes: ``arguments`` is a JSON string."""

    name: str = ""
    arguments: str = ""


class ChatCompletionMessageToolCall(_Answer):
    """A tool call in an assistant message: ``function`` for a function tool, ``custom``
    for a custom tool (``type="custom"``); the other one is None."""

    id: str = ""
    type: str = "function"
    function: Function | None = None
    custom: CustomToolCall | None = None


class ChatCompletionMessage(_Answer):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    refusal: str | None = None
    annotations: list[Annotation] | None = None
    audio: ChatCompletionAudio | None = None
    #: The legacy (deprecated) function call: ``tool_calls`` replaced it.
    function_call: Function | None = None

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("role")  # so to_dict() shows it


class Choice(_Answer):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(_Answer):
    _route: Route | None = PrivateAttr(default=None)

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(min_length=1)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    metadata: dict[str, Any] | None = None
    moderation: Moderation | None = None

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("object")  # so to_dict() shows it

    @property
    def route(self) -> Route | None:
        """How this answer was obtained (set by the client; ``None`` on a bare model)."""
        # (``self._route`` would go through pydantic's ``__getattr__``: a Python call and an
        # ``AttributeError`` built and dropped, on every read)
        private = self.__pydantic_private__
        return private.get("_route") if private else None


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
    refusal: str | None = None
    audio: ChoiceDeltaAudio | None = None
    function_call: ChoiceDeltaToolCallFunction | None = None


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
    choices: list[ChunkChoice] = Field(default_factory=empty_list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    moderation: Moderation | None = None
    #: Random padding some providers add to each chunk (stream obfuscation).
    obfuscation: str | None = None

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("object")  # so to_dict() shows it

    @property
    def has_content(self) -> bool:
        """True when the chunk carries output (content, reasoning or a tool call)."""
        for c in self.choices:  # a loop: no generator per chunk
            delta = c.delta
            if delta.content or delta.reasoning_content or delta.tool_calls:
                return True
        return False


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
