"""``OpenAI`` and ``AsyncOpenAI``: openai-python's constructor over a resilient chain.

    -from openai import OpenAI
    +from deepseek_resilient import OpenAI
     client = OpenAI(api_key=..., base_url="https://api.deepseek.com")

The chain is the endpoint (the ``DeepSeek`` preset for DeepSeek's URL, or for no URL when
``$DEEPSEEK_API_KEY`` is set; ``OpenAICompatible`` otherwise), then the embedded local model
when it is installed. Answers carry ``route`` as with any client of this library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx2
from typing_extensions import TypedDict, Unpack

from ._client import AsyncClient, Client
from ._clock import Clock
from ._config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from ._errors import ConfigurationError
from ._providers.base import Provider
from ._providers.openai_compat import DeepSeek, OpenAICompatible

__all__ = ["AsyncOpenAI", "OpenAI"]

#: openai-python's default total timeout (10 minutes) and retry count.
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The model sent when neither the call nor the constructor names one (openai-python code
#: always passes ``model=``; OpenAI-compatible local servers ignore it).
DEFAULT_MODEL = "default"


class ResilienceOptions(TypedDict, total=False):
    """This library's client options accepted by ``OpenAI`` / ``AsyncOpenAI`` as well."""

    breaker: CircuitBreaker | None
    rate_limit: RateLimit | None
    retry_budget: RetryBudget | None
    cache: Cache | None
    coalesce: bool
    failover_reserve: float
    breaker_listeners: Sequence[Any]
    clock: Clock | None


def _is_deepseek(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    return host == "api.deepseek.com" or host.endswith(".deepseek.com")


def _timeouts(timeout: float | httpx2.Timeout | None) -> tuple[float, dict[str, float]]:
    """The total deadline and the provider's per-phase timeouts from openai's ``timeout``."""
    if timeout is None:
        return DEFAULT_TIMEOUT, {}
    if isinstance(timeout, httpx2.Timeout):
        phases = {"read": timeout.read, "connect": timeout.connect, "write": timeout.write}
        total = max((v for v in phases.values() if v is not None), default=DEFAULT_TIMEOUT)
        provider: dict[str, float] = {}
        if timeout.read is not None:
            provider["read_timeout"] = timeout.read
        if timeout.connect is not None:
            provider["connect_timeout"] = timeout.connect
        return float(total), provider
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigurationError(f"timeout must be seconds or an httpx2.Timeout: {timeout!r}")
    return float(timeout), {}


def build_chain(
    *,
    api_key: str | None,
    base_url: str | None,
    model: str | None,
    organization: str | None,
    project: str | None,
    default_headers: Mapping[str, str] | None,
    http_client: httpx2.AsyncClient | None,
    provider_timeouts: Mapping[str, float],
    local: bool,
) -> list[Provider]:
    """The endpoint's provider, then the embedded local model when installed and ``local``."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    headers = dict(default_headers or {})
    organization = organization or os.environ.get("OPENAI_ORG_ID")
    project = project or os.environ.get("OPENAI_PROJECT_ID")
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    common: dict[str, Any] = {"headers": headers or None, "http_client": http_client}
    common.update(provider_timeouts)
    endpoint: Provider
    if (base_url is None and os.environ.get("DEEPSEEK_API_KEY")) or (
        base_url is not None and _is_deepseek(base_url)
    ):
        key = api_key or os.environ.get("DEEPSEEK_API_KEY") or os.environ.get("OPENAI_API_KEY")
        endpoint = DeepSeek(
            model=model or "deepseek-flash", api_key=key, base_url=base_url, **common
        )
    else:
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if base_url is None and not key:
            raise ConfigurationError(
                "no API key: pass api_key=..., or set DEEPSEEK_API_KEY (DeepSeek) or "
                "OPENAI_API_KEY (with OPENAI_BASE_URL for another endpoint)"
            )
        endpoint = OpenAICompatible(
            name="openai",
            base_url=base_url or OPENAI_BASE_URL,
            model=model or DEFAULT_MODEL,
            api_key=key,
            **common,
        )
    chain: list[Provider] = [endpoint]
    if local:
        from . import _defaults

        fallback = _defaults._local_provider()
        if fallback is not None:
            chain.append(fallback)
    return chain


def _client_options(
    timeout: float | httpx2.Timeout | None,
    max_retries: int,
    options: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, float]]:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    total, provider_timeouts = _timeouts(timeout)
    return {
        **options,
        "timeout": total,
        "retry": Retry(attempts=max_retries + 1),
    }, provider_timeouts


class AsyncOpenAI(AsyncClient):
    """openai-python's ``AsyncOpenAI`` constructor over a resilient chain (see the module
    docstring). ``timeout`` is the total deadline of a request (an ``httpx2.Timeout`` also sets
    the per-phase limits); ``max_retries`` retries per provider; ``default_query`` is added
    to every call. ``model`` names the provider's default model; ``local=False`` leaves the
    embedded model out. This library's own options (``cache=``, ``breaker=``...) also apply."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx2.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        model: str | None = None,
        local: bool = True,
        **options: Unpack[ResilienceOptions],
    ) -> None:
        client_options, provider_timeouts = _client_options(timeout, max_retries, options)
        providers = build_chain(
            api_key=api_key,
            base_url=base_url,
            model=model,
            organization=organization,
            project=project,
            default_headers=default_headers,
            http_client=_async_http_client(http_client),
            provider_timeouts=provider_timeouts,
            local=local,
        )
        super().__init__(providers, **client_options)
        if default_query:
            self._call_defaults = {"extra_query": dict(default_query)}

    @property
    def base_url(self) -> str:
        """The endpoint's base URL (the first provider's)."""
        return str(getattr(self.providers[0], "base_url", ""))


class OpenAI(Client):
    """openai-python's ``OpenAI`` constructor over a resilient chain; the sync twin of
    ``AsyncOpenAI`` (same arguments). ``http_client`` must be an ``httpx2.AsyncClient``: the
    sync client runs its requests on a private event-loop thread."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx2.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        model: str | None = None,
        local: bool = True,
        **options: Unpack[ResilienceOptions],
    ) -> None:
        client_options, provider_timeouts = _client_options(timeout, max_retries, options)
        providers = build_chain(
            api_key=api_key,
            base_url=base_url,
            model=model,
            organization=organization,
            project=project,
            default_headers=default_headers,
            http_client=_async_http_client(http_client),
            provider_timeouts=provider_timeouts,
            local=local,
        )
        super().__init__(providers, **client_options)
        if default_query:
            self._async._call_defaults = {"extra_query": dict(default_query)}

    @property
    def base_url(self) -> str:
        """The endpoint's base URL (the first provider's)."""
        return str(getattr(self.providers[0], "base_url", ""))


def _async_http_client(http_client: object) -> httpx2.AsyncClient | None:
    if http_client is None or isinstance(http_client, httpx2.AsyncClient):
        return http_client
    raise ConfigurationError(
        f"http_client must be an httpx2.AsyncClient, got {type(http_client).__name__} "
        "(requests run on an event loop, also for the sync OpenAI client)"
    )
