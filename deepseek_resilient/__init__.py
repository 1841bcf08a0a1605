"""deepseek_resilient: a resilient client for DeepSeek and OpenAI-compatible chat APIs.

from deepseek_resilient import Client, DeepSeek, OpenAICompatible

client = Client([DeepSeek(), OpenAICompatible(name="backup", base_url=..., model=...)])
resp = client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}])
resp.choices[0].message.content, resp.route
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import events
from ._balance import Hedge, Tier
from ._client import AsyncClient, CallOptions, ClientOptions, CreateParams
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
    StreamFailure,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from ._policies.breaker import BreakerHealth
from ._providers.base import Provider
from ._providers.http.openai_compat import (
    LlamaCppPythonServer,
    LlamaCppServer,
    OpenAICompatible,
)
from ._streaming.accumulate import accumulate
from ._streaming.streams import AsyncStream, Stream

if TYPE_CHECKING:
    from ._batch import BatchProgress, BatchSummary, batch
    from ._client.stats_report import ClientStats, ProviderStats
    from ._client.sync_client import Client
    from ._config_file.locate import ConfigFileError
    from ._dropin.clients import AsyncOpenAI, OpenAI
    from ._dropin.httpx_compat import AsyncHttpxResilientTransport, HttpxResilientTransport
    from ._dropin.route import route_of
    from ._dropin.transport import AsyncResilientTransport, ResilientTransport
    from ._policies.cache.store import CacheStats, ResponseCache
    from ._providers.http.deepseek import DeepSeek, MissingAPIKeyWarning, RetiredModelWarning
    from ._providers.local.hf_transformers import Transformers
    from ._providers.local.llama_cpp import LlamaCpp
    from ._queue import JobQueue, JobQueueError, JobResult
    from ._state.redis import RedisState

__version__ = "0.1.0"

# The local backends, the transports, the openai-python drop-in, batch jobs, the job queue,
# the disk cache, the stats report types, the config file's error type, the sync ``Client``
# (and its loop thread), the ``DeepSeek`` preset and ``RedisState`` load on first use:
# ``import deepseek_resilient`` stays light (``from deepseek_resilient import OpenAI`` imports
# it).
_LAZY = {
    "batch": "._batch",
    "BatchProgress": "._batch",
    "BatchSummary": "._batch",
    "Client": "._client.sync_client",
    "ClientStats": "._client.stats_report",
    "ProviderStats": "._client.stats_report",
    "ConfigFileError": "._config_file.locate",
    "CacheStats": "._policies.cache.store",
    "ResponseCache": "._policies.cache.store",
    "JobQueue": "._queue",
    "JobQueueError": "._queue",
    "JobResult": "._queue",
    "AsyncOpenAI": "._dropin.clients",
    "OpenAI": "._dropin.clients",
    "AsyncResilientTransport": "._dropin.transport",
    "AsyncHttpxResilientTransport": "._dropin.httpx_compat",
    "HttpxResilientTransport": "._dropin.httpx_compat",
    "ResilientTransport": "._dropin.transport",
    "route_of": "._dropin.route",
    "DeepSeek": "._providers.http.deepseek",
    "MissingAPIKeyWarning": "._providers.http.deepseek",
    "RetiredModelWarning": "._providers.http.deepseek",
    "RedisState": "._state.redis",
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
    "AsyncHttpxResilientTransport",
    "AsyncOpenAI",
    "AsyncResilientTransport",
    "AsyncStream",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BatchProgress",
    "BatchSummary",
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
    "ConfigFileError",
    "ConfigurationError",
    "ContextLengthExceededError",
    "CreateParams",
    "CustomToolCall",
    "DeadlineExceeded",
    "DeepSeek",
    "DeepSeekResilientError",
    "FirstTokenTimeoutError",
    "Function",
    "Hedge",
    "HttpxResilientTransport",
    "IncompleteStreamError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidRequestError",
    "InvalidResponseError",
    "JobQueue",
    "JobQueueError",
    "JobResult",
    "LlamaCpp",
    "LlamaCppPythonServer",
    "LlamaCppServer",
    "LocalModelError",
    "MissingAPIKeyWarning",
    "Model",
    "ModelList",
    "Moderation",
    "ModerationResult",
    "ModerationResults",
    "NotFoundError",
    "OpenAI",
    "OpenAICompatible",
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
    "ResilientTransport",
    "ResponseCache",
    "RetiredModelWarning",
    "Retry",
    "RetryBudget",
    "Route",
    "ServiceUnavailableError",
    "Stream",
    "StreamFailure",
    "Tier",
    "TokenLogprob",
    "TopLogprob",
    "Transformers",
    "UnprocessableEntityError",
    "UnsupportedParameterError",
    "Usage",
    "__version__",
    "accumulate",
    "batch",
    "events",
    "route_of",
]
