"""Any OpenAI-compatible chat API over httpx2, plus the DeepSeek and llama-server presets."""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2
from pydantic import SecretStr, ValidationError

from .._accumulate import completion_to_chunks
from .._config import CircuitBreaker, RateLimit, Retry
from .._errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    InvalidResponseError,
    ProviderError,
    status_error,
)
from .._sse import aiter_chunks, shorten
from .._types import ChatCompletion, ChatCompletionChunk, ChatRequest
from .base import Provider

__all__ = ["DeepSeek", "LlamaCppServer", "OpenAICompatible", "parse_retry_after"]

DEEPSEEK_BASE_URL = "https://api.deepseek.com"


class OpenAICompatible(Provider):
    """A provider speaking the OpenAI chat-completions API at ``base_url``.

    ``prefix_completion=True`` declares that the server continues a final assistant message
    (llama-server, vLLM, DeepSeek's beta): a stream broken after its first content is then
    continued there. ``context_window``: the model's context in tokens, when known.

    One ``httpx2.AsyncClient`` per provider (created on first use, inside the running loop) with
    explicit pool limits and keep-alive; or the one passed as ``http_client=`` (proxies, mTLS,
    limits, a ``MockTransport`` in unit tests), which the caller owns and closes. The API key
    is a ``SecretStr``: it is never in a repr, a log line, an exception or a cache key.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        name: str = "openai",
        api_key: str | SecretStr | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        attempt_timeout: float | None = None,
        first_token_timeout: float | None = None,
        retry: Retry | None = None,
        breaker: CircuitBreaker | None = None,
        rate_limit: RateLimit | None = None,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 30.0,
        http_client: httpx2.AsyncClient | None = None,
        data_idle_timeout: float | None = None,
        prefix_completion: bool | None = None,
        context_window: int | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{name}: base_url must start with http:// or https://")
        if not model:
            raise ConfigurationError(f"{name}: model is required")
        for label, value in (("read_timeout", read_timeout), ("connect_timeout", connect_timeout)):
            if not value > 0:
                raise ConfigurationError(f"{name}: {label} must be > 0, got {value!r}")
        self.name = name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.attempt_timeout = attempt_timeout
        self.first_token_timeout = first_token_timeout
        self.retry = retry
        self.breaker = breaker
        self.rate_limit = rate_limit
        self._url = f"{self.base_url}/chat/completions"
        self.data_idle_timeout = data_idle_timeout
        if prefix_completion is not None:
            self.prefix_completion = prefix_completion
        self.context_window = context_window
        self._extra_headers = dict(headers or {})
        self._limits = httpx2.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
        )
        if http_client is not None and not isinstance(http_client, httpx2.AsyncClient):
            raise ConfigurationError(f"{name}: http_client must be an httpx2.AsyncClient")
        self._http: httpx2.AsyncClient | None = http_client
        self._owns_http = http_client is None
        # With a caller's client, our headers go on each request instead of on the client.
        self._request_headers: dict[str, str] | None = None if self._owns_http else self._headers()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
            f"model={self.model!r})"
        )

    @property
    def identity(self) -> str:
        """What distinguishes this provider's answers (for cache keys): no secrets."""
        return f"{self.name}|{self.base_url}|{self.model}"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self._extra_headers)
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = httpx2.AsyncClient(headers=self._headers(), limits=self._limits)
        return self._http

    #: HTTP providers can be asked for a stream even for a non-streamed request.
    stream_upstream = True

    def _url_for(self, request: ChatRequest) -> str:
        """Where ``request`` goes: a continuation (a final assistant message with
        ``"prefix": true``) goes to ``prefix_url``, others to ``{base_url}/chat/completions``."""
        last = request.messages[-1]
        if last.role == "assistant" and (last.model_extra or {}).get("prefix"):
            return self.prefix_url
        return self._url

    @property
    def prefix_url(self) -> str:
        """The endpoint for prefix completion (the chat endpoint unless a preset says else)."""
        return self._url

    def _timeout(self, idle_timeout: float) -> httpx2.Timeout:
        idle = max(0.001, min(self.read_timeout, idle_timeout))
        return httpx2.Timeout(idle, connect=min(self.connect_timeout, idle))

    async def aclose(self) -> None:
        if self._http is not None and self._owns_http:
            http, self._http = self._http, None
            await http.aclose()

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        content = json.dumps(request.to_wire(self.model)).encode()
        try:
            response = await self._client().post(
                self._url_for(request),
                content=content,
                headers=self._request_headers,
                timeout=self._timeout(idle_timeout),
            )
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        return self._completion(response)

    def _completion(self, response: httpx2.Response) -> ChatCompletion:
        try:
            return ChatCompletion.model_validate_json(response.content)
        except ValidationError as exc:
            raise InvalidResponseError(
                f"HTTP {response.status_code} body is not a chat completion: "
                f"{_snippet(response.content)}",
                provider=self.name,
            ) from exc

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        content = json.dumps(request.to_wire(self.model)).encode()
        http = self._client()
        try:
            async with http.stream(
                "POST",
                self._url_for(request),
                content=content,
                timeout=self._timeout(idle_timeout),
                headers={**(self._request_headers or {}), "Accept": "text/event-stream"},
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    # A server that ignored stream=True: a whole completion (replayed as
                    # chunks), or a body that is not an answer at all (InvalidResponseError).
                    await response.aread()
                    for chunk in completion_to_chunks(self._completion(response)):
                        yield chunk
                    return
                async for chunk in aiter_chunks(response.aiter_bytes(), provider=self.name):
                    yield chunk
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc

    async def models(self, *, timeout: float = 10.0) -> list[str]:
        """The model ids the server lists (``GET /models``): checks reachability and the key."""
        try:
            response = await self._client().get(
                f"{self.base_url}/models",
                headers=self._request_headers,
                timeout=self._timeout(timeout),
            )
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            data = response.json().get("data", [])
            return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        except (ValueError, AttributeError, TypeError) as exc:
            raise InvalidResponseError(
                f"/models answered {_snippet(response.content)}", provider=self.name
            ) from exc

    # -- error translation

    def _transport_error(self, exc: httpx2.HTTPError) -> ProviderError:
        kind = type(exc).__name__
        if isinstance(exc, httpx2.TimeoutException):
            return APITimeoutError(f"{kind}: no bytes within the idle timeout", provider=self.name)
        return APIConnectionError(f"{kind}: {exc}", provider=self.name)

    def _status_error(self, response: httpx2.Response) -> ProviderError:
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = _snippet(response.content)
        message = f"HTTP {response.status_code}"
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"].get("message")
            if detail:
                message += f": {detail}"
        elif isinstance(body, str) and body:
            message += f": {body}"
        return status_error(
            response.status_code,
            message,
            provider=self.name,
            body=body,
            request_id=response.headers.get("x-request-id"),
            retry_after=parse_retry_after(response.headers),
        )


class DeepSeek(OpenAICompatible):
    """DeepSeek's API. The key comes from ``api_key`` or ``$DEEPSEEK_API_KEY``; the base URL
    from ``base_url``, ``$DEEPSEEK_BASE_URL`` (a proxy, a test server) or the public API.
    Continuations (chat prefix completion) go to the beta endpoint
    ``{base_url}/beta/chat/completions``."""

    prefix_completion = True

    @property
    def prefix_url(self) -> str:
        # The beta API sits beside the versioned one: https://api.deepseek.com/beta
        return f"{self.base_url.removesuffix('/v1')}/beta/chat/completions"

    def __init__(
        self,
        model: str = "deepseek-chat",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        name: str = "deepseek",
        **options: Any,
    ) -> None:
        base_url = base_url or os.environ.get("DEEPSEEK_BASE_URL") or DEEPSEEK_BASE_URL
        key = api_key or os.environ.get("DEEPSEEK_API_KEY")
        if not key:
            raise ConfigurationError(
                "DeepSeek needs an API key: pass DeepSeek(api_key=...) or set DEEPSEEK_API_KEY"
            )
        super().__init__(base_url=base_url, model=model, name=name, api_key=key, **options)


class LlamaCppServer(OpenAICompatible):
    """A llama.cpp server (``llama-server`` or ``python -m llama_cpp.server``). It continues
    a final assistant message, so a broken stream is continued there."""

    prefix_completion = True

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080/v1",
        *,
        model: str = "local",
        name: str = "llama-server",
        **options: Any,
    ) -> None:
        super().__init__(base_url=base_url, model=model, name=name, **options)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)


def _snippet(content: bytes) -> str:
    return shorten(content.decode("utf-8", "replace").strip())
