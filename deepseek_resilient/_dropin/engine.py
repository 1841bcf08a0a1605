"""The transports' shared core: a chat completion through the pipeline, anything else
through to the caller's endpoint; the result as a ``Reply`` (HTTP) or a ``Failure``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from .._client.async_client import AsyncClient
from .._core.errors import DeepSeekResilientError
from .._core.route import Route
from .._models import ChatCompletion
from .._streaming.streams import AsyncStream
from .passthrough import Passthrough
from .wire import (
    CALL_HEADERS,
    ROUTE_HEADER,
    Failure,
    Reply,
    completion_body,
    error_outcome,
    parsed_request,
    plain_json,
    request_arguments,
    route_json,
    sse_error,
    sse_event,
)

__all__ = ["Engine", "deadline_of"]

logger = logging.getLogger("deepseek_resilient")
_DONE = b"data: [DONE]\n\n"


def deadline_of(timeout: Mapping[str, Any] | None, default: float) -> float:
    """The request's one deadline from httpx's per-phase timeouts: the longest phase set."""
    if not timeout:
        return default
    try:
        longest = max(timeout.values())  # (in C: every phase is set, as openai-python sets them)
    except TypeError:  # a phase not set (None)
        longest = max((v for v in timeout.values() if v is not None), default=0.0)
    return float(longest) if longest > 0 else default


def _call_headers(headers: Any, named: Sequence[str]) -> dict[str, str] | None:
    """The headers the call itself set (named in ``CALL_HEADERS``), as sent."""
    found = {}
    for name in named:
        value = headers.get(name)
        if value is not None:
            found[name] = value
    return found or None


class Engine:
    """Answers HTTP requests for a transport, on the event loop of ``client``."""

    def __init__(self, client: AsyncClient, *, warn_local: bool = True) -> None:
        self.client = client
        self._local = frozenset(p.name for p in client.providers if p.local)
        self._warn_local = warn_local
        self._passthrough = Passthrough(client._slots[0], client.clock)

    def handle(
        self,
        method: str,
        url: Any,
        path: str,
        headers: Any,
        content: bytes,
        extensions: Mapping[str, Any],
    ) -> Awaitable[Reply | Failure]:
        """Answer one request (a plain function returning the coroutine that answers: one
        frame less for every resumption). ``url`` and ``headers``: the HTTP library's
        (httpx or httpx2) ``URL`` and ``Headers``, read only as far as the request needs;
        ``extensions``: the request's (``timeout``, ``CALL_HEADERS``)."""
        deadline = deadline_of(extensions.get("timeout"), self.client.timeout)
        if method == "POST" and path.endswith("/chat/completions"):
            query = url.query
            params = dict(parse_qsl(query.decode("ascii"))) if query else None
            named = extensions.get(CALL_HEADERS)
            own = _call_headers(headers, named) if named else None
            return self.chat(content, deadline, params, own)
        items: Sequence[tuple[str, str]] = headers.multi_items()
        return self._passthrough.send(method, str(url), items, content, deadline)

    async def chat(
        self,
        content: bytes,
        deadline: float,
        query: dict[str, str] | None = None,
        call_headers: dict[str, str] | None = None,
    ) -> Reply | Failure:
        plain = plain_json(content)
        simple = plain and not (query or call_headers or self.client._call_defaults)
        request = parsed_request(content) if simple else None
        try:
            if request is not None:  # validated from the text: handed through as it is
                timeout = {"timeout": min(deadline, 1e9)}
                answer = await self.client._create(request, request.stream, timeout, from_json=True)  # type: ignore[arg-type]
            else:
                answer = await self._create(content, deadline, query, call_headers, plain)
        except DeepSeekResilientError as exc:
            return error_outcome(exc)
        if isinstance(answer, AsyncStream):
            headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache"),
                       (ROUTE_HEADER, route_json(answer.route))]  # fmt: skip
            return Reply(200, headers, stream=self._events(answer))
        route = answer.route
        if self._warn_local:
            self._note(route)
        summary = route_json(route)
        headers = [("content-type", "application/json"), (ROUTE_HEADER, summary)]
        return Reply(200, headers, completion_body(answer, summary))

    def _create(
        self,
        content: bytes,
        deadline: float,
        query: dict[str, str] | None,
        call_headers: dict[str, str] | None,
        plain: bool,
    ) -> Awaitable[ChatCompletion | AsyncStream]:
        """``create()`` from the request body parsed as JSON: fields ``create()`` doesn't
        name go in ``extra_body``; a ``None`` means "not passed"."""
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        messages, stream, params = request_arguments(body)
        params["timeout"] = min(deadline, 1e9)
        if query:
            params["extra_query"] = query
        if call_headers:
            params["extra_headers"] = call_headers
        return self.client._create(messages, stream, params, from_json=plain)  # type: ignore[arg-type]

    async def _events(self, stream: AsyncStream) -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield sse_event(chunk)
            yield _DONE
        except DeepSeekResilientError as exc:
            yield sse_error(exc)
        finally:
            await stream.close()
            self._note(stream.route)

    def _note(self, route: Route | None) -> None:
        """One WARNING, the first time the embedded local model answers for this client."""
        if self._warn_local and route is not None and route.provider in self._local:
            self._warn_local = False
            logger.warning(
                "deepseek_resilient: the embedded local model %r answered (%s); its answers "
                "are far weaker than a hosted model's",
                route.provider,
                route.summary(),
            )

    async def aclose(self) -> None:
        await self._passthrough.aclose()
        await self.client.aclose()
