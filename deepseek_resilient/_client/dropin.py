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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from typing_extensions import Unpack

from .._core.config import Retry
from .._core.errors import ConfigurationError
from .._core.lazy import LazyModule
from .._providers.base import Provider
from .._providers.http.deepseek import DeepSeek
from .._providers.http.openai_compat import OpenAICompatible
from . import AsyncClient, Client, PolicyOptions

if TYPE_CHECKING:
    import httpx2
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = ["AsyncOpenAI", "OpenAI", "OpenAIOptions"]

#: openai-python's default total timeout (10 minutes) and retry count.
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The model sent when neither the call nor the constructor names one (openai-python code
#: always passes ``model=``; OpenAI-compatible local servers ignore it).
DEFAULT_MODEL = "default"


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
        if not key:  # as openai-python: no key is an error here, not a skipped provider
            raise ConfigurationError(
                "no API key: pass api_key=..., or set DEEPSEEK_API_KEY (DeepSeek)"
            )
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
        from . import defaults as _defaults

        fallback = _defaults._local_provider()
        if fallback is not None:
            chain.append(fallback)
    return chain


class OpenAIOptions(PolicyOptions, total=False):
    """The constructor of ``OpenAI`` / ``AsyncOpenAI``: openai-python's arguments, then
    ``model`` (the endpoint's default model), ``local`` (False: no embedded model) and this
    library's own options (``cache=``, ``breaker=``, ``rate_limit=``...)."""

    api_key: str | None
    organization: str | None
    project: str | None
    base_url: str | None
    #: The total deadline of a request (600 s by default, as in openai-python); an
    #: ``httpx2.Timeout`` also sets the provider's read and connect limits.
    timeout: float | httpx2.Timeout | None
    #: Retries per provider (2 by default, as in openai-python).
    max_retries: int
    default_headers: Mapping[str, str] | None
    #: Query parameters added to every call.
    default_query: Mapping[str, object] | None
    #: Must be an ``httpx2.AsyncClient`` (requests run on an event loop, also for ``OpenAI``).
    http_client: httpx2.AsyncClient | None
    model: str | None
    local: bool


_OPENAI_KEYS = set(OpenAIOptions.__annotations__) - set(PolicyOptions.__annotations__)


def _prepare(kwargs: Mapping[str, Any]) -> tuple[list[Provider], dict[str, Any]]:
    """The chain and the client options from the drop-in constructor's arguments."""
    args: dict[str, Any] = {k: v for k, v in kwargs.items() if k in _OPENAI_KEYS}
    options = {k: v for k, v in kwargs.items() if k not in _OPENAI_KEYS}
    max_retries = args.get("max_retries", DEFAULT_MAX_RETRIES)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    total, provider_timeouts = _timeouts(args.get("timeout"))
    providers = build_chain(
        api_key=args.get("api_key"),
        base_url=args.get("base_url"),
        model=args.get("model"),
        organization=args.get("organization"),
        project=args.get("project"),
        default_headers=args.get("default_headers"),
        http_client=_async_http_client(args.get("http_client")),
        provider_timeouts=provider_timeouts,
        local=args.get("local", True),
    )
    options.update(timeout=total, retry=Retry(attempts=max_retries + 1))
    return providers, options


def _default_query(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    query = kwargs.get("default_query")
    return {"extra_query": dict(query)} if query else {}


class AsyncOpenAI(AsyncClient):
    """openai-python's ``AsyncOpenAI`` constructor (keyword arguments: ``OpenAIOptions``)
    over a resilient chain: the endpoint, then the embedded local model (module docstring)."""

    def __init__(self, **kwargs: Unpack[OpenAIOptions]) -> None:
        providers, options = _prepare(kwargs)
        super().__init__(providers, **options)
        self._call_defaults = _default_query(kwargs)

    @property
    def base_url(self) -> str:
        """The endpoint's base URL (the first provider's)."""
        return str(getattr(self.providers[0], "base_url", ""))


class OpenAI(Client):
    """openai-python's ``OpenAI`` constructor; the sync twin of ``AsyncOpenAI``."""

    def __init__(self, **kwargs: Unpack[OpenAIOptions]) -> None:
        providers, options = _prepare(kwargs)
        super().__init__(providers, **options)
        self._async._call_defaults = _default_query(kwargs)

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
