"""The provider seam: turn a validated request into a completion or a chunk stream.

A provider knows nothing of retries, breakers, rate limits, caches or deadlines: the pipeline
wraps it. It raises only our own ``ProviderError`` subclasses (translated at its boundary).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from .._core.config import CircuitBreaker, RateLimit, Retry
from .._core.errors import ProviderError
from .._models import ChatCompletion, ChatCompletionChunk, ChatRequest

__all__ = ["Provider", "ProviderUnavailableError"]


class ProviderUnavailableError(ProviderError):
    """The provider was skipped without any I/O: it cannot serve as configured (no API key).
    ``note``: why, in words safe to show anywhere (it names a setting, never a value)."""

    def __init__(self, note: str, *, provider: str | None = None) -> None:
        super().__init__(f"{provider} skipped: {note}", provider=provider)
        self.note = note


class Provider(ABC):
    """Base class of every provider. Subclass it to plug in any backend.

    ``retry``, ``breaker`` and ``rate_limit`` override the client-wide policies for this
    provider (None: use the client's). ``attempt_timeout`` caps one attempt (None: the time left).
    """

    name: str
    model: str
    retry: Retry | None = None
    breaker: CircuitBreaker | None = None
    rate_limit: RateLimit | None = None
    attempt_timeout: float | None = None
    #: Time allowed until the first content chunk (None: the default, 10 s while another
    #: provider remains after this one, else the time left; ``math.inf``: no limit).
    first_token_timeout: float | None = None
    #: Longest gap between two data events of a stream, keep-alives not counting (None: the
    #: default, 10 s while another provider remains, else the time left; ``math.inf``: none).
    data_idle_timeout: float | None = None
    #: Can continue a partial assistant message (the last message is an assistant message
    #: with ``"prefix": true``): used to resume a stream that broke after its first content.
    #: A provider not declaring it is never sent such a request.
    prefix_completion: bool = False
    #: A non-streamed request may be sent as a stream and accumulated, so that the first-token
    #: and idle limits apply to it too (``OpenAICompatible``: True; see docs/streaming.md).
    stream_upstream: bool = False
    #: The model's context window in tokens, when known: a request whose estimate does not fit
    #: skips this provider without any I/O (``ContextLengthExceededError``).
    context_window: int | None = None

    @abstractmethod
    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        """Answer ``request`` (``stream`` is False). ``idle_timeout``: the longest silence
        allowed while waiting for bytes, in seconds."""

    @abstractmethod
    def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Answer ``request`` as chunks (an async generator; the caller closes it)."""

    #: Runs in-process (a local model): no network, no key.
    local: bool = False

    def unavailable(self) -> ProviderUnavailableError | None:
        """Why this provider cannot serve at all right now, checked before each request
        without any I/O (a missing API key), or None. The request then skips it."""
        return None

    async def warm(self) -> None:
        """Get ready ahead of the first request (a local model loads here). Default: nothing."""
        return None

    async def aclose(self) -> None:
        """Release connections, threads or models. Idempotent."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"
