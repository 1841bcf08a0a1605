"""deepseek_resilient: a resilient client for DeepSeek and OpenAI-compatible chat APIs.

from deepseek_resilient import Client, DeepSeek, OpenAICompatible

client = Client([DeepSeek(), OpenAICompatible(name="backup", base_url=..., model=...)])
resp = client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}])
resp.choices[0].message.content, resp.route
"""

from ._accumulate import accumulate
from ._client import AsyncClient, Client
from ._clock import Clock
from ._config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from ._errors import (
    AllProvidersFailed,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ConfigurationError,
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
)
from ._policies.breaker import BreakerHealth
from ._policies.cache import CacheStats, ResponseCache
from ._providers.base import Provider
from ._providers.hf_transformers import Transformers
from ._providers.llama_cpp import LlamaCpp
from ._providers.openai_compat import DeepSeek, LlamaCppServer, OpenAICompatible
from ._streaming import AsyncStream, Stream
from ._types import (
    Attempt,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatMessage,
    ChatRequest,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    Route,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AllProvidersFailed",
    "AsyncClient",
    "AsyncStream",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BreakerHealth",
    "Cache",
    "CacheStats",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatMessage",
    "ChatRequest",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "Clock",
    "ConfigurationError",
    "DeadlineExceeded",
    "DeepSeek",
    "DeepSeekResilientError",
    "FirstTokenTimeoutError",
    "IncompleteStreamError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidRequestError",
    "InvalidResponseError",
    "LlamaCpp",
    "LlamaCppServer",
    "LocalModelError",
    "NotFoundError",
    "OpenAICompatible",
    "PermissionDeniedError",
    "Provider",
    "ProviderError",
    "RateLimit",
    "RateLimitError",
    "RateLimitedLocally",
    "ResponseCache",
    "Retry",
    "RetryBudget",
    "Route",
    "ServiceUnavailableError",
    "Stream",
    "Transformers",
    "UnprocessableEntityError",
    "Usage",
    "__version__",
    "accumulate",
]
