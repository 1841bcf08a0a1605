"""The drop-in's chain: the caller's endpoint (from openai's ``base_url`` and ``api_key``),
then the caller's ``providers=[...]``, then the embedded local model when asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .._core.config import Retry
from .._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from .._providers.base import Provider
from .._providers.http.deepseek import DeepSeek
from .._providers.http.openai_compat import OpenAICompatible

__all__ = ["OwnModel", "build_chain", "endpoint_provider", "is_deepseek"]

#: The model the endpoint is configured with; openai-python calls always name one.
DEFAULT_MODEL = "default"
#: Provider attributes the pipeline reads, copied from the wrapped provider.
_POLICY = ("name", "model", "retry", "breaker", "rate_limit", "attempt_timeout",
           "first_token_timeout", "data_idle_timeout", "prefix_completion", "stream_upstream",
           "context_window", "local")  # fmt: skip


#: openai-python's connection pool (``DEFAULT_CONNECTION_LIMITS``): a drop-in keeps as many
#: connections alive as the client it replaces, so a busy caller doesn't reconnect.
OPENAI_POOL = {"max_connections": 1000, "max_keepalive_connections": 100}


def is_deepseek(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    return host == "api.deepseek.com" or host.endswith(".deepseek.com")


class OwnModel(Provider):
    """A fallback provider that answers with its own model, whatever model the call named,
    and gets none of the call's own headers (both belong to the caller's endpoint)."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        for name in _POLICY:
            setattr(self, name, getattr(inner, name))

    def __getattr__(self, name: str) -> Any:  # models(), base_url, identity, ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @staticmethod
    def _own(request: ChatRequest) -> ChatRequest:
        """The request without the caller's model and per-call headers: both belong to the
        caller's endpoint (a header may carry that endpoint's credentials)."""
        if request.model is None and not request.extra_headers:
            return request
        return request.model_copy(update={"model": None, "extra_headers": None})

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        return await self.inner.complete(self._own(request), idle_timeout=idle_timeout)

    def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        return self.inner.stream(self._own(request), idle_timeout=idle_timeout)

    async def warm(self) -> None:
        await self.inner.warm()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return repr(self.inner)


def endpoint_provider(
    *,
    base_url: str,
    api_key: str | None,
    headers: Mapping[str, str],
    max_retries: int,
    phases: Mapping[str, float],
    deepseek: bool = False,
) -> Provider:
    """The caller's endpoint: the ``DeepSeek`` preset for DeepSeek's URL, else
    ``OpenAICompatible``; ``max_retries`` retries, as openai-python's ``max_retries``."""
    common: dict[str, Any] = {
        "headers": dict(headers) or None,
        "retry": Retry(attempts=max_retries + 1),
        **OPENAI_POOL,
    }
    common.update(phases)
    if deepseek or is_deepseek(base_url):
        return DeepSeek("deepseek-flash", api_key=api_key, base_url=base_url, **common)
    return OpenAICompatible(
        name="openai", base_url=base_url, model=DEFAULT_MODEL, api_key=api_key or None, **common
    )


def build_chain(endpoint: Provider, providers: Sequence[Provider], local: bool) -> list[Provider]:
    chain: list[Provider] = [endpoint, *(OwnModel(p) for p in providers)]
    if local:
        from .._client import defaults

        fallback = defaults._local_provider()
        if fallback is not None:
            chain.append(OwnModel(fallback))
    return chain
