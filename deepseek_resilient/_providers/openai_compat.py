"""Any OpenAI-compatible chat API over httpx2, plus the DeepSeek and llama-server presets."""

from __future__ import annotations

import email.utils
import json
import os
import time
import warnings
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx2
from pydantic import SecretStr, ValidationError

from .._accumulate import completion_to_chunks
from .._config import CircuitBreaker, RateLimit, Retry
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    ProviderError,
    status_error,
)
from .._redact import MAX_TEXT, register_secret
from .._sse import aiter_chunks, shorten
from .._types import ChatCompletion, ChatCompletionChunk, ChatRequest
from .._validation import check_api_key, check_base_url, check_count, check_positive
from .base import Provider

__all__ = [
    "DeepSeek",
    "LlamaCppServer",
    "OpenAICompatible",
    "RetiredModelWarning",
    "parse_retry_after",
]

DEEPSEEK_BASE_URL = "https://api.deepseek.com"
#: Default cap on a decoded completion body: no real chat answer comes near it.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Default cap on one stream event (or one unterminated line), in characters.
MAX_EVENT_BYTES = 1024 * 1024
#: Bytes of an error body read to name the error; the rest is dropped.
MAX_ERROR_BYTES = 64 * 1024
_PIECE = 64 * 1024


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
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_event_bytes: int = MAX_EVENT_BYTES,
        data_idle_timeout: float | None = None,
        prefix_completion: bool | None = None,
        context_window: int | None = None,
    ) -> None:
        _check_options(locals())
        self.name = name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = check_api_key(api_key, name)
        #: Decoded bytes a completion (or error) body may have; past it the attempt ends.
        self.max_response_bytes = max_response_bytes
        #: Characters one stream event (or unterminated line) may have.
        self.max_event_bytes = max_event_bytes
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

    def _body(self, request: ChatRequest) -> bytes:
        """The JSON body sent for ``request`` (presets add their defaults here)."""
        return _encode(request.to_wire(self.model))

    def _call_headers(self, request: ChatRequest) -> dict[str, str] | None:
        """This call's headers: the provider's (with a caller's client), then ``extra_headers``."""
        if not request.extra_headers:
            return self._request_headers
        return {**(self._request_headers or {}), **request.extra_headers}

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        content = self._body(request)
        try:
            async with self._client().stream(
                "POST",
                self._url_for(request),
                content=content,
                headers=self._call_headers(request),
                params=request.extra_query,
                timeout=self._timeout(idle_timeout),
            ) as response:
                if response.status_code >= 400:
                    raise self._status_error(response, await self._read_error(response))
                return self._completion(response, await self._read(response))
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def _completion(self, response: httpx2.Response, body: bytes | None = None) -> ChatCompletion:
        if body is None:  # a response read whole elsewhere
            body = response.content
        try:
            return ChatCompletion.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidResponseError(
                f"HTTP {response.status_code} body is not a chat completion: {_snippet(body)}",
                provider=self.name,
            ) from exc

    async def _read(self, response: httpx2.Response) -> bytes:
        """The decoded body, or ``InvalidResponseError`` as soon as it passes
        ``max_response_bytes`` (the rest is neither read nor decoded)."""
        limit = self.max_response_bytes
        parts: list[bytes] = []
        size = 0
        async for piece in decoded_pieces(response, self.name):
            size += len(piece)
            if size > limit:
                raise InvalidResponseError(
                    f"HTTP {response.status_code} body is larger than max_response_bytes="
                    f"{limit}: attempt abandoned",
                    provider=self.name,
                )
            parts.append(piece)
        return b"".join(parts)

    async def _read_error(self, response: httpx2.Response) -> bytes:
        """At most ``MAX_ERROR_BYTES`` of an error body: enough to name the error."""
        parts: list[bytes] = []
        size = 0
        async for piece in decoded_pieces(response, self.name):
            parts.append(piece)
            size += len(piece)
            if size >= MAX_ERROR_BYTES:
                break
        return b"".join(parts)[:MAX_ERROR_BYTES]

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        content = self._body(request)
        http = self._client()
        try:
            async with http.stream(
                "POST",
                self._url_for(request),
                content=content,
                timeout=self._timeout(idle_timeout),
                headers={**(self._call_headers(request) or {}), "Accept": "text/event-stream"},
                params=request.extra_query,
            ) as response:
                if response.status_code >= 400:
                    raise self._status_error(response, await self._read_error(response))
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    # A server that ignored stream=True: a whole completion (replayed as
                    # chunks), or a body that is not an answer at all (InvalidResponseError).
                    body = await self._read(response)
                    for chunk in completion_to_chunks(self._completion(response, body)):
                        yield chunk
                    return
                pieces = decoded_pieces(response, self.name)
                async for chunk in aiter_chunks(
                    pieces, provider=self.name, max_event_chars=self.max_event_bytes
                ):
                    yield chunk
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc

    async def models(self, *, timeout: float = 10.0) -> list[str]:
        """The model ids the server lists (``GET /models``): checks reachability and the key."""
        try:
            async with self._client().stream(
                "GET",
                f"{self.base_url}/models",
                headers=self._request_headers,
                timeout=self._timeout(timeout),
            ) as response:
                if response.status_code >= 400:
                    raise self._status_error(response, await self._read_error(response))
                body = await self._read(response)
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc
        try:
            data = json.loads(body).get("data", [])
            return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        except (ValueError, AttributeError, TypeError, RecursionError) as exc:
            raise InvalidResponseError(
                f"/models answered {_snippet(body)}", provider=self.name
            ) from exc

    # -- error translation

    def _transport_error(self, exc: httpx2.HTTPError) -> ProviderError:
        kind = type(exc).__name__
        if isinstance(exc, httpx2.TimeoutException):
            return APITimeoutError(f"{kind}: no bytes within the idle timeout", provider=self.name)
        return APIConnectionError(f"{kind}: {exc}", provider=self.name)

    def _status_error(
        self, response: httpx2.Response, content: bytes | None = None
    ) -> ProviderError:
        # The status decides the error type; the body only adds detail, parsed defensively
        # (not JSON, cut short, or nested past any sane depth: kept as a snippet).
        body: Any
        if content is None:
            content = response.content[:MAX_ERROR_BYTES]
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            body = _snippet(content, MAX_TEXT)
        message = f"HTTP {response.status_code}"
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"].get("message")
            if isinstance(detail, str) and detail:
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


class RetiredModelWarning(UserWarning):
    """A retired model name was configured, as in ``DeepSeek(model="deepseek-chat")``."""


#: Names DeepSeek retired on 2026-07-24, with what to use instead.
RETIRED_MODELS: dict[str, str] = {
    "deepseek-chat": "deepseek-flash",
    "deepseek-reasoner": "deepseek-v4-pro",
}
_USE_INSTEAD = "use model='deepseek-flash' (or 'deepseek-v4-pro' in place of deepseek-reasoner)"


class DeepSeek(OpenAICompatible):
    """DeepSeek's API. The key comes from ``api_key`` or ``$DEEPSEEK_API_KEY``; the base URL
    from ``base_url``, ``$DEEPSEEK_BASE_URL`` (a proxy, a test server) or the public API.

    ``thinking`` (``True`` / ``False`` or ``{"type": "enabled" | "disabled"}``) and
    ``reasoning_effort`` are defaults for every request this provider sends; a request's own
    value wins. Unset, DeepSeek's default applies (thinking on, effort ``high``). A retired
    model name warns (``RetiredModelWarning``); DeepSeek's "model does not exist" answer
    becomes a ``NotFoundError`` that names the model to use. In JSON mode
    (``response_format={"type": "json_object"}``) an empty answer is asked again once.
    See docs/deepseek.md.

    Continuations (chat prefix completion) go to the beta endpoint
    ``{base_url}/beta/chat/completions``.
    """

    prefix_completion = True

    @property
    def prefix_url(self) -> str:
        # The beta API sits beside the versioned one: https://api.deepseek.com/beta
        return f"{self.base_url.removesuffix('/v1')}/beta/chat/completions"

    def __init__(
        self,
        model: str = "deepseek-flash",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        name: str = "deepseek",
        thinking: bool | Mapping[str, Any] | None = None,
        reasoning_effort: str | None = None,
        **options: Any,
    ) -> None:
        base_url = base_url or os.environ.get("DEEPSEEK_BASE_URL") or DEEPSEEK_BASE_URL
        key = api_key or os.environ.get("DEEPSEEK_API_KEY")
        if not key:
            raise ConfigurationError(
                "DeepSeek needs an API key: pass DeepSeek(api_key=...) or set DEEPSEEK_API_KEY"
            )
        if model in RETIRED_MODELS:
            warnings.warn(
                RetiredModelWarning(
                    f"DeepSeek retired {model!r} on 2026-07-24: requests with it fail; "
                    f"use model={RETIRED_MODELS[model]!r}"
                ),
                stacklevel=2,
            )
        try:
            self.thinking: dict[str, Any] | None = ChatRequest._thinking(
                dict(thinking) if isinstance(thinking, Mapping) else thinking
            )
        except ValueError as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
        if reasoning_effort is not None and not isinstance(reasoning_effort, str):
            raise ConfigurationError(f"{name}: reasoning_effort must be a string")
        self.reasoning_effort = reasoning_effort
        super().__init__(base_url=base_url, model=model, name=name, api_key=key, **options)

    @property
    def identity(self) -> str:
        """The base identity plus the thinking defaults, which change the answers."""
        return f"{super().identity}|{self.thinking}|{self.reasoning_effort}"

    def _body(self, request: ChatRequest) -> bytes:
        body = request.to_wire(self.model)
        if self.thinking is not None:
            body.setdefault("thinking", self.thinking)
        if self.reasoning_effort is not None:
            body.setdefault("reasoning_effort", self.reasoning_effort)
        return _encode(body)

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        answer = await super().complete(request, idle_timeout=idle_timeout)
        if _json_mode(request) and _blank(answer):
            # DeepSeek documents that JSON mode may answer with empty content: ask once more.
            try:
                return await super().complete(request, idle_timeout=idle_timeout)
            except ProviderError:
                return answer
        return answer

    def _status_error(
        self, response: httpx2.Response, content: bytes | None = None
    ) -> ProviderError:
        error = super()._status_error(response, content)
        code = response.status_code
        if code in (400, 404, 422) and _says_no_such_model(error.message):
            model = _sent_model(response) or self.model
            retired = " (retired on 2026-07-24)" if model in RETIRED_MODELS else ""
            assert isinstance(error, APIStatusError)
            return NotFoundError(
                f"HTTP {code}: model {model!r} is unknown to DeepSeek{retired}; {_USE_INSTEAD}",
                provider=self.name,
                status_code=code,
                body=error.body,
                request_id=error.request_id,
            )
        return error


def _json_mode(request: ChatRequest) -> bool:
    return bool(request.response_format and request.response_format.get("type") == "json_object")


def _blank(answer: ChatCompletion) -> bool:
    return all(
        not (c.message.content or "").strip() and not c.message.tool_calls for c in answer.choices
    )


def _says_no_such_model(message: str) -> bool:
    text = message.lower()
    return (
        "model not exist" in text
        or "model not found" in text
        or ("model" in text and "does not exist" in text)
    )


def _sent_model(response: httpx2.Response) -> str | None:
    try:
        model = json.loads(response.request.content).get("model")
    except (ValueError, AttributeError, RuntimeError):
        return None
    return model if isinstance(model, str) else None


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
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date.

    A negative, non-finite or unparsable hint is ignored (None); a date in the past is 0.
    Huge hints are returned as sent: the retry layer fails over past ``max_retry_after`` and
    the rate limiter caps its pause at ``RateLimit.max_pause``."""
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
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    else:
        if seconds < 0:
            return None  # a negative number of seconds is nonsense, not "now"
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _snippet(content: bytes, limit: int = 200) -> str:
    return shorten(content[: limit * 4].decode("utf-8", "replace").strip(), limit)


def _encode(body: dict[str, Any]) -> bytes:
    """The JSON body. Validation proved the request is plain JSON, so a failure here is the
    caller's input (``InvalidRequestError``), never a provider failure."""
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRequestError(
            f"invalid request: cannot encode it as JSON ({type(exc).__name__})"
        ) from exc


def _check_options(options: Mapping[str, Any]) -> None:
    """``ConfigurationError`` for a wrong option of ``OpenAICompatible`` (its ``locals()``)."""
    name = options["name"]
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"name must be a non-empty str, got {name!r}")
    check_base_url(options["base_url"], name)
    model = options["model"]
    if not isinstance(model, str) or not model:
        raise ConfigurationError(f"{name}: model is required (a non-empty str), got {model!r}")
    for label in ("read_timeout", "connect_timeout"):
        check_positive(options[label], label, name, optional=False)
    for label in ("attempt_timeout", "first_token_timeout"):
        check_positive(options[label], label, name, optional=True)
    check_positive(options["keepalive_expiry"], "keepalive_expiry", name, optional=False)
    check_count(options["max_connections"], "max_connections", name, minimum=1)
    check_count(options["max_keepalive_connections"], "max_keepalive_connections", name, minimum=0)
    check_count(options["max_response_bytes"], "max_response_bytes", name, minimum=1024)
    check_count(options["max_event_bytes"], "max_event_bytes", name, minimum=1024)
    for label, kind in (("retry", Retry), ("breaker", CircuitBreaker), ("rate_limit", RateLimit)):
        value = options[label]
        if value is not None and not isinstance(value, kind):
            raise ConfigurationError(
                f"{name}: {label} must be a {kind.__name__}(...) or None, "
                f"got {type(value).__name__}"
            )
    headers = options["headers"]
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigurationError(f"{name}: headers must be a mapping of str to str")
        for key, value in headers.items():
            if key.lower() in ("authorization", "api-key", "x-api-key"):
                register_secret(value.split()[-1] if value.split() else value)


async def decoded_pieces(response: httpx2.Response, provider: str) -> AsyncIterator[bytes]:
    """The response body decoded, in pieces of at most ``_PIECE`` bytes. gzip and deflate
    are inflated here with a bounded output per step, so a decompression bomb never costs
    more than one piece of memory; other encodings go through httpx2's decoders."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if response.is_stream_consumed:  # read already (a MockTransport response built from bytes)
        yield response.content
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        async for piece in response.aiter_bytes():
            yield piece
        return
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    first = True
    try:
        async for raw in response.aiter_raw():
            if first and encoding == "deflate" and raw and (raw[0] & 0x0F) != 8:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            first = False
            data = raw
            while data:
                piece = inflater.decompress(data, _PIECE)
                data = inflater.unconsumed_tail
                if piece:
                    yield piece
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise InvalidResponseError(
            f"body is not valid {encoding}: {exc}", provider=provider
        ) from exc
