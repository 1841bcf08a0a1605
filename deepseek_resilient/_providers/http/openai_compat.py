"""Any OpenAI-compatible chat API over httpx2, and the llama-server preset (the DeepSeek preset
is in ``deepseek``; body reading, error translation and option checks in ``_http_*``)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, ValidationError

from ..._core.config import CircuitBreaker, RateLimit, Retry
from ..._core.errors import InvalidResponseError, ProviderError
from ..._core.lazy import LazyModule
from ..._core.omit import accepts_omitted
from ..._core.redact import redact_url
from ..._core.validation import check_api_key
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..._streaming.accumulate import completion_to_chunks
from ..._streaming.sse import ChunkReader
from ..base import Provider
from .body import (
    MAX_EVENT_BYTES,
    MAX_RESPONSE_BYTES,
    decoded_pieces,
    encode_json,
    read_body,
    read_error_body,
    snippet,
)
from .errors import status_error_from, transport_error
from .options import check_options
from .send import Sender, drain

if TYPE_CHECKING:
    import httpx2

    from .foreign import AsyncHTTP
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = ["LlamaCppPythonServer", "LlamaCppServer", "OpenAICompatible"]


class OpenAICompatible(Provider):
    """A provider speaking the OpenAI chat-completions API at ``base_url``.

    ``prefix_completion=True`` declares that the server continues a final assistant message
    (llama-server, vLLM, DeepSeek's beta): a stream broken after its first content is then
    continued there. ``context_window``: the model's context in tokens, when known.

    One ``httpx2.AsyncClient`` per provider (created on first use, inside the running loop) with
    explicit pool limits and keep-alive; or the one passed as ``http_client=`` (proxies, mTLS,
    limits, a ``MockTransport`` in unit tests), which the caller owns and closes: an
    ``httpx2.AsyncClient``, an ``httpx.AsyncClient`` (openai-python 2.x's), or a sync
    ``httpx2.Client`` / ``httpx.Client`` (sent on worker threads). The API key
    is a ``SecretStr``: it is never in a repr, a log line, an exception or a cache key.
    """

    @accepts_omitted
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
        http_client: httpx2.AsyncClient | httpx2.Client | Any | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_event_bytes: int = MAX_EVENT_BYTES,
        data_idle_timeout: float | None = None,
        prefix_completion: bool | None = None,
        context_window: int | None = None,
    ) -> None:
        check_options(locals())
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
        self._http: AsyncHTTP | None = None
        if http_client is not None:
            from .foreign import adapt_http_client  # httpx.AsyncClient, sync clients: adapted

            self._http = adapt_http_client(http_client, name)
        self._owns_http = http_client is None
        self._sender: Sender | None = None
        # With a caller's client, our headers go on each request instead of on the client.
        self._request_headers: dict[str, str] | None = None if self._owns_http else self._headers()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={redact_url(self.base_url)!r}, "
            f"model={self.model!r})"
        )

    @property
    def identity(self) -> str:
        """What distinguishes this provider's answers (for cache keys): no secrets."""
        return f"{self.name}|{redact_url(self.base_url)}|{self.model}"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self._extra_headers)
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def _send(self) -> Sender:
        """Where requests go: the caller's client as given, or our own (built on first use)."""
        if self._sender is None:
            if self._http is None:
                self._http = httpx2.AsyncClient(headers=self._headers(), limits=self._limits)
            self._sender = Sender(self._http, owned=self._owns_http)
        return self._sender

    #: HTTP providers can be asked for a stream even for a non-streamed request.
    stream_upstream = True
    _kept_timeout: httpx2.Timeout | None = None  # ``_timeout``'s last

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
        connect, kept = min(self.connect_timeout, idle), self._kept_timeout
        if kept is not None and kept.read == idle and kept.connect == connect:
            return kept  # the same limits as the last call's (the usual case): shared, unchanged
        # All four phases named: httpx2 then skips its check of a lone default against the
        # ``SupportsFloat`` protocol (an isinstance on a Protocol, several µs a call).
        kept = httpx2.Timeout(connect=connect, read=idle, write=idle, pool=idle)
        self._kept_timeout = kept
        return kept

    async def aclose(self) -> None:
        if self._http is not None and self._owns_http:
            http, self._http, self._sender = self._http, None, None
            await http.aclose()

    def _body(self, request: ChatRequest) -> bytes:
        """The JSON body sent for ``request`` (presets add their defaults here)."""
        return encode_json(request.to_wire(self.model))

    def _call_headers(self, request: ChatRequest) -> dict[str, str] | None:
        """This call's headers: the provider's (with a caller's client), then ``extra_headers``."""
        if not request.extra_headers:
            return self._request_headers
        return {**(self._request_headers or {}), **request.extra_headers}

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        content = self._body(request)
        try:
            async with self._send().stream(
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
                f"HTTP {response.status_code} body is not a chat completion: {snippet(body)}",
                provider=self.name,
            ) from exc

    async def _read(self, response: httpx2.Response) -> bytes:
        """The decoded body, at most ``max_response_bytes`` of it (``InvalidResponseError``)."""
        return await read_body(response, self.name, self.max_response_bytes)

    async def _read_error(self, response: httpx2.Response) -> bytes:
        """The start of an error body: enough to name the error."""
        return await read_error_body(response, self.name)

    def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        return self._stream(request, idle_timeout, plain=False)

    def plain_stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncGenerator[Any, None]:
        """``stream`` for a read to the end that only accumulates the chunks: plain events
        come as ``PlainChunk`` dicts (``_streaming.plain``), the others as chunks. A subclass
        with its own ``stream`` gets that one."""
        if type(self).stream is not OpenAICompatible.stream:
            return self.stream(request, idle_timeout=idle_timeout)
        return self._stream(request, idle_timeout, plain=True)

    async def _stream(
        self, request: ChatRequest, idle_timeout: float, *, plain: bool
    ) -> AsyncGenerator[Any, None]:
        content = self._body(request)
        try:
            async with self._send().stream(
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
                # ``aiter_chunks``'s loop, inline: one async generator less per event.
                reader = ChunkReader(self.name, self.max_event_bytes, plain=plain)
                pieces = decoded_pieces(response, self.name)
                async for raw in pieces:
                    for chunk in reader.feed(raw):
                        yield chunk
                    if reader.stopped:
                        break
                else:
                    for chunk in reader.end():
                        yield chunk
                reader.raise_error()
                await drain(pieces)  # the end of the body: keeps the connection for reuse
        except httpx2.HTTPError as exc:
            raise self._transport_error(exc) from exc

    async def models(self, *, timeout: float = 10.0) -> list[str]:
        """The model ids the server lists (``GET /models``): checks reachability and the key."""
        try:
            async with self._send().stream(
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
                f"/models answered {snippet(body)}", provider=self.name
            ) from exc

    # -- error translation

    def _transport_error(self, exc: httpx2.HTTPError) -> ProviderError:
        return transport_error(exc, self.name)

    def _status_error(
        self, response: httpx2.Response, content: bytes | None = None
    ) -> ProviderError:
        return status_error_from(response, content, self.name)


class LlamaCppServer(OpenAICompatible):
    """llama.cpp's own server (the C++ ``llama-server``). A final assistant message is taken
    as a prefill (its default ``--prefill-assistant``): the model goes on from the partial
    text, so a broken stream is continued there. For ``python -m llama_cpp.server`` use
    :class:`LlamaCppPythonServer`: it answers such a message anew."""

    prefix_completion = True

    @accepts_omitted
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080/v1",
        *,
        model: str = "local",
        name: str = "llama-server",
        **options: Any,
    ) -> None:
        super().__init__(base_url=base_url, model=model, name=name, **options)


class LlamaCppPythonServer(OpenAICompatible):
    """llama-cpp-python's server (``python -m llama_cpp.server``, port 8000 by default). It
    renders a final assistant message as a finished turn and starts a new answer after it,
    so it does not declare prefix completion: a broken stream is restarted there (and only
    what extends the delivered text is passed on)."""

    prefix_completion = False

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        *,
        model: str = "local",
        name: str = "llama-cpp-python",
        **options: Any,
    ) -> None:
        super().__init__(base_url=base_url, model=model, name=name, **options)
