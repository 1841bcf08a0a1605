"""``route_of``: the route of a drop-in answer, read back from what openai-python returns."""

from __future__ import annotations

import json
from typing import Any

from .._core.route import Route
from .wire import ROUTE_FIELD, ROUTE_HEADER

__all__ = ["route_of"]


def route_of(obj: Any) -> Route | None:
    """How a drop-in request was answered (``Route``: provider, attempts, cache...), or None.

    ``obj``: what openai-python gave back: a ``ChatCompletion`` (the route rides in an extra
    field), a raw response (``with_raw_response`` / ``with_streaming_response``, or any
    httpx/httpx2 response: the ``x-deepseek-resilient-route`` header), or an exception
    (``openai.APIStatusError``: its response's header; ``APIConnectionError`` /
    ``APITimeoutError``: the transport error it was raised from)."""
    if isinstance(obj, Route):
        return obj
    if isinstance(obj, BaseException):
        response = getattr(obj, "response", None)
        if response is not None:
            return route_of(response)
        cause = obj.__cause__ or obj.__context__
        route = getattr(cause, "route", None)
        return route if isinstance(route, Route) else None
    extra = getattr(obj, "model_extra", None)
    if isinstance(extra, dict) and isinstance(extra.get(ROUTE_FIELD), dict):
        return Route.model_validate(extra[ROUTE_FIELD])
    if isinstance(obj, dict) and isinstance(obj.get(ROUTE_FIELD), dict):
        return Route.model_validate(obj[ROUTE_FIELD])
    headers = getattr(obj, "headers", None)
    raw = headers.get(ROUTE_HEADER) if headers is not None else None
    if isinstance(raw, str) and raw:
        try:
            return Route.model_validate(json.loads(raw))
        except ValueError:
            return None
    return None
