"""deepseek_resilient: a resilient client for DeepSeek and OpenAI-compatible chat APIs.

from deepseek_resilient import Client, DeepSeek, OpenAICompatible

client = Client([DeepSeek(), OpenAICompatible(name="backup", base_url=..., model=...)])
resp = client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}])
resp.choices[0].message.content, resp.route
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import events
from ._client import AsyncClient, CallOptions, Client, ClientOptions, CreateParams
from ._client.stats_report import ClientStats, ProviderStats
from ._core.clock import Clock
from ._core.config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from ._core.errors import (
    AllProvidersFailed,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ConfigurationError,
    ContextLengthExceededError,
    DeadlineExceeded,
    DeepSeekResilientError,
    FirstTokenTimeoutError,
    IncompleteStreamError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidRequestError,
    InvalidResponseError,
    LocalModelError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitedLocally,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedParameterError,
)
from ._models import (
    Annotation,
    AnnotationURLCitation,
    Attempt,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatMessage,
    ChatRequest,
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
    ModerationResult,
    ModerationResults,
    PromptTokensDetails,
    Recovery,
    Route,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from ._policies.breaker import BreakerHealth
from ._policies.cache.layer import CacheStats, ResponseCache
from ._providers.base import Provider
from ._providers.http.deepseek import DeepSeek, RetiredModelWarning
from ._providers.http.openai_compat import LlamaCppServer, OpenAICompatible
from ._state.redis import RedisState
from ._streaming.accumulate import accumulate
from ._streaming.streams import AsyncStream, Stream

if TYPE_CHECKING:
    from ._client.dropin import AsyncOpenAI, OpenAI, OpenAIOptions
    from ._providers.local.hf_transformers import Transformers
    from ._providers.local.llama_cpp import LlamaCpp

__version__ = "0.1.0"

# The local backends and the openai-python drop-in load on first use: ``import
# deepseek_resilient`` stays light (``from deepseek_resilient import OpenAI`` imports it).
_LAZY = {
    "AsyncOpenAI": "._client.dropin",
    "OpenAI": "._client.dropin",
    "OpenAIOptions": "._client.dropin",
    "LlamaCpp": "._providers.local.llama_cpp",
    "Transformers": "._providers.local.hf_transformers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AllProvidersFailed",
    "Annotation",
    "AnnotationURLCitation",
    "AsyncClient",
    "AsyncOpenAI",
    "AsyncStream",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BreakerHealth",
    "Cache",
    "CacheStats",
    "CallOptions",
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
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "ClientOptions",
    "ClientStats",
    "Clock",
    "CompletionTokensDetails",
    "ConfigurationError",
    "ContextLengthExceededError",
    "CreateParams",
    "CustomToolCall",
    "DeadlineExceeded",
    "DeepSeek",
    "DeepSeekResilientError",
    "FirstTokenTimeoutError",
    "Function",
    "IncompleteStreamError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidRequestError",
    "InvalidResponseError",
    "LlamaCpp",
    "LlamaCppServer",
    "LocalModelError",
    "Model",
    "ModelList",
    "Moderation",
    "ModerationResult",
    "ModerationResults",
    "NotFoundError",
    "OpenAI",
    "OpenAICompatible",
    "OpenAIOptions",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "Provider",
    "ProviderError",
    "ProviderStats",
    "RateLimit",
    "RateLimitError",
    "RateLimitedLocally",
    "Recovery",
    "RedisState",
    "ResponseCache",
    "RetiredModelWarning",
    "Retry",
    "RetryBudget",
    "Route",
    "ServiceUnavailableError",
    "Stream",
    "TokenLogprob",
    "TopLogprob",
    "Transformers",
    "UnprocessableEntityError",
    "UnsupportedParameterError",
    "Usage",
    "__version__",
    "accumulate",
    "events",
]
