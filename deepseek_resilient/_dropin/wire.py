"""Between HTTP and the pipeline: a chat request body into ``create()``'s arguments, and an
answer or an error into what goes back on the wire (JSON, SSE, or a failure to raise)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from .._core.errors import (
    AllProvidersFailed,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    CircuitOpenError,
    DeadlineExceeded,
    DeepSeekResilientError,
    InvalidRequestError,
    ProviderError,
    RateLimitedLocally,
    RateLimitError,
)
from .._core.route import Route
from .._core.validation import MAX_DEPTH
from .._models import ChatCompletion, ChatCompletionChunk, ChatRequest

__all__ = [
    "CALL_HEADERS",
    "ROUTE_FIELD",
    "ROUTE_HEADER",
    "Failure",
    "Reply",
    "completion_body",
    "error_outcome",
    "parsed_request",
    "plain_json",
    "request_arguments",
    "sse_event",
]

#: The response header that carries the route (compact JSON).
ROUTE_HEADER = "x-deepseek-resilient-route"
#: The request extension (``request.extensions``) in which a drop-in client names the
#: headers the call itself set (openai's per-call ``extra_headers``, and the key of an
#: ``api_key`` callable): those go to the caller's endpoint; the client's defaults are the
#: endpoint's own already. An extension never goes on the wire.
CALL_HEADERS = "deepseek_resilient_call_headers"
#: The extra top-level field of a non-streamed answer that carries the route.
ROUTE_FIELD = "deepseek_resilient_route"
#: Body fields ``create()`` takes by name; any other goes through ``extra_body`` as sent.
_NAMED = frozenset(ChatRequest.model_fields) - {"extra_headers", "extra_query", "extra_body"}
_JSON = "application/json"
_ROUTE_KEY = b',"' + ROUTE_FIELD.encode() + b'":'


@dataclass
class Reply:
    """An HTTP answer: a whole body, or ``stream`` (SSE bytes) read by the caller."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


@dataclass
class Failure:
    """A failure that is no HTTP answer: raised as the HTTP library's connect or timeout
    error, so openai-python raises ``APIConnectionError`` / ``APITimeoutError``."""

    kind: Literal["connect", "timeout"]
    message: str
    route: Route | None = None
    errors: list[ProviderError] = field(default_factory=list)


#: What in JSON text could parse into something that is not plain JSON: a surrogate escape
#: (a lone one is no valid Unicode) or a raw UTF-16 surrogate (Python's JSON parser lets
#: both through), and the NaN / Infinity literals. A valid surrogate pair also matches: its
#: request is simply checked in full.
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|NaN|Infinity")


def plain_json(content: bytes) -> bool:
    """Whether ``content`` (a JSON request body) surely parses into plain JSON of sane depth:
    no surrogate and no NaN / Infinity anywhere (text that merely contains the words
    included), and no more objects and arrays in all than the deepest nesting allowed. Then
    ``create()`` skips that check of the validated request; otherwise it runs it (and names
    the field). Scans of the bytes only, in C: far cheaper than walking the request."""
    if content.count(b"{") + content.count(b"[") > MAX_DEPTH:
        return False
    return _SUSPECT.search(content) is None


def parsed_request(content: bytes) -> ChatRequest | None:
    """The request validated straight from its JSON text (no ``json.loads``, no dict to
    validate again), when that surely gives what ``request_arguments`` and ``create()``
    would; else None, and the general path decides (and names any problem). ``content``
    must have passed ``plain_json``. Left to the general path: a ``null`` anywhere (there,
    a top-level ``null`` means "not passed"), an ``extra_*`` key (there, such a body field is
    passed on in ``extra_body``), and whatever strict validation refuses: an unknown field
    (passed on in ``extra_body``), a value of another JSON type than the field's (there,
    e.g. a ``"stream"`` that is not ``true`` means no stream; ``"0.5"`` is a temperature)."""
    if b"null" in content or b'"extra_' in content:
        return None
    try:
        return ChatRequest.model_validate_json(content, strict=True)
    except ValidationError:
        return None


def request_arguments(body: object) -> tuple[object, bool, dict[str, Any]]:
    """``(messages, stream, params)`` for ``create()`` from a JSON request body. Fields our
    request model doesn't name are passed on in ``extra_body`` untouched."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    messages = body.get("messages")
    stream = body.get("stream") is True
    for key, value in body.items():
        if key in ("messages", "stream"):
            continue
        (params if key in _NAMED else extra)[key] = value
    if extra:
        params["extra_body"] = extra
    return messages, stream, params


def route_json(route: Route | None) -> str:
    """The route as compact JSON in ASCII (non-ASCII escaped): it also goes in a header."""
    if route is None:
        return "{}"
    raw = route.__pydantic_serializer__.to_json(route, exclude_defaults=True, ensure_ascii=True)
    return raw.decode("ascii")


def completion_body(answer: ChatCompletion, route: str) -> bytes:
    """The answer as the OpenAI wire JSON, with the route (JSON) as one extra field."""
    raw = answer.__pydantic_serializer__.to_json(answer, exclude_unset=True)
    # Spliced in rather than re-serialised: the answer's JSON object ends with "}".
    return b"".join((raw[:-1], _ROUTE_KEY, route.encode(), b"}"))


def sse_event(chunk: ChatCompletionChunk) -> bytes:
    """One SSE event: the chunk's wire JSON (the bytes of ``model_dump_json(exclude_unset=
    True)``, without that method's decode to ``str`` and our encode back)."""
    raw = chunk.__pydantic_serializer__.to_json(chunk, exclude_unset=True)
    return b"".join((b"data: ", raw, b"\n\n"))


def sse_error(exc: DeepSeekResilientError) -> bytes:
    """An ``error`` event (openai-python raises ``APIError`` on it) for a stream that broke."""
    error = {"message": str(exc), "type": type(exc).__name__, "deepseek_resilient": _info(exc)}
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"


def _info(exc: DeepSeekResilientError) -> dict[str, Any]:
    errors = _errors(exc)
    route = exc.route.model_dump(mode="json", exclude_defaults=True) if exc.route else None
    return {"route": route, "errors": [_error_entry(e) for e in errors]}


def _error_entry(exc: ProviderError) -> dict[str, Any]:
    return {
        "provider": exc.provider,
        "type": type(exc).__name__,
        "status_code": getattr(exc, "status_code", None),
        "message": exc.message,
    }


def _status_reply(
    status: int, error: dict[str, Any], route: Route | None, extra: Mapping[str, str] = {}
) -> Reply:
    headers = [("content-type", _JSON), (ROUTE_HEADER, route_json(route)), *extra.items()]
    return Reply(status, headers, json.dumps({"error": error}).encode())


def error_outcome(exc: DeepSeekResilientError) -> Reply | Failure:
    """What the wire says when the pipeline raised ``exc``: everyone rate-limited → 429 with
    the shortest Retry-After; otherwise the caller's endpoint's (the first provider tried)
    error decides: its HTTP status (a 400 body unchanged), or a connect / timeout failure."""
    route = exc.route
    if isinstance(exc, DeadlineExceeded):
        return Failure("timeout", str(exc), route, _errors(exc))
    if isinstance(exc, InvalidRequestError) and not isinstance(exc, ProviderError):
        error = {"message": str(exc), "type": "invalid_request_error", "code": None}
        return _status_reply(400, error, route)
    errors = _errors(exc)
    tried = [e for e in errors if not isinstance(e, (CircuitOpenError, RateLimitedLocally))]
    if len(tried) > 1 and all(isinstance(e, RateLimitError) for e in tried):
        return _rate_limited(exc, errors)
    first = tried[0] if tried else (errors[0] if errors else None)
    if isinstance(first, APIStatusError):
        return _from_status(exc, first)
    if isinstance(first, APITimeoutError):
        return Failure("timeout", str(exc), route, errors)
    if isinstance(first, APIConnectionError):
        return Failure("connect", str(exc), route, errors)
    # Every provider skipped (breakers open, local limits), or a local model's failure.
    status = 503 if first is None or not tried else 500
    failed: dict[str, Any] = {"message": str(exc), "type": type(exc).__name__, "code": None}
    failed["deepseek_resilient"] = _info(exc)
    return _status_reply(status, failed, route)


def _errors(exc: DeepSeekResilientError) -> list[ProviderError]:
    if isinstance(exc, AllProvidersFailed):
        return list(exc.errors)
    return [exc] if isinstance(exc, ProviderError) else []


def _rate_limited(exc: DeepSeekResilientError, errors: list[ProviderError]) -> Reply:
    said = [getattr(e, "retry_after", None) for e in errors]
    hints = [float(h) for h in said if isinstance(h, (int, float))]
    headers: dict[str, str] = {}
    if hints:
        shortest = max(0.0, min(hints))
        headers["retry-after"] = str(math.ceil(shortest))
        headers["retry-after-ms"] = str(int(shortest * 1000))
    error = {"message": str(exc), "type": "rate_limit_error", "code": "rate_limit_exceeded",
             "deepseek_resilient": _info(exc)}  # fmt: skip
    return _status_reply(429, error, exc.route, headers)


def _from_status(exc: DeepSeekResilientError, first: APIStatusError) -> Reply:
    body = first.body
    error = body.get("error") if isinstance(body, dict) else None
    error = dict(error) if isinstance(error, dict) else {"message": first.message}
    if not (isinstance(exc, BadRequestError) or isinstance(first, BadRequestError)):
        error["deepseek_resilient"] = _info(exc)  # a 400 goes back as the caller's endpoint said
    headers: dict[str, str] = {}
    if first.retry_after is not None:
        headers["retry-after"] = str(math.ceil(first.retry_after))
    if first.request_id:
        headers["x-request-id"] = first.request_id
    return _status_reply(first.status_code, error, exc.route, headers)
