"""Request, response and chunk models, wire-compatible with the OpenAI chat API: one import
place for the models of ``_request`` (what is sent), ``_response`` (what comes back) and
``_route`` (how it was answered).

Response models keep every field a provider sends (DeepSeek's ``reasoning_content``,
``prompt_cache_hit_tokens``, and anything unknown) because they allow extra fields.
"""

from __future__ import annotations

from .._core.route import Attempt, Recovery, Route, StreamFailure
from .extras import AnnotationURLCitation, ModerationResult, ModerationResults
from .request import ChatMessage, ChatRequest
from .response import (
    Annotation,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    Choice,
    ChoiceDelta,
    ChoiceDeltaAudio,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionTokensDetails,
    CustomToolCall,
    Function,
    Model,
    ModelList,
    Moderation,
    PromptTokensDetails,
    TokenLogprob,
    TopLogprob,
    Usage,
)

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
    "Attempt",
    "ChatCompletion",
    "ChatCompletionAudio",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatMessage",
    "ChatRequest",
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
    "ModerationResult",
    "ModerationResults",
    "PromptTokensDetails",
    "Recovery",
    "Route",
    "StreamFailure",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
]
