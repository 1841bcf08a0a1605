"""Turning ``create()``'s arguments into a validated ``ChatRequest`` and per-call options,
before any I/O: every problem is an ``InvalidRequestError`` naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .._core.errors import InvalidRequestError
from .._core.validation import check_json
from .._core.validation import check_timeout as check_deadline
from .._models import ChatRequest
from .._policies.cache.key import CacheMode

__all__ = ["cache_mode", "check_timeout", "validate_request"]


def validate_request(
    messages: object, stream: bool, params: dict[str, Any], *, plain: bool = False
) -> ChatRequest:
    """The validated request. ``plain``: the arguments are known to be plain JSON of sane
    depth already (parsed from JSON text that ``_dropin.wire.plain_json`` passed), so that
    check is not run again on the validated request; ``messages`` may then be the request
    itself, validated from that text already (``_dropin.wire.parsed_request``)."""
    if plain and isinstance(messages, ChatRequest):
        return messages
    try:
        if messages is not None and not isinstance(messages, (list, tuple, str, bytes)):
            messages = list(messages)  # type: ignore[call-overload]
        params = {k: v for k, v in params.items() if v is not None}
        request = ChatRequest.model_validate({"messages": messages, "stream": stream, **params})
        if not (plain or _plain_text_only(request)):
            check_json(request.model_dump(exclude_none=True))  # plain JSON, sane depth
        return request
    except ValidationError as exc:
        problems = "; ".join(
            _problem(err) for err in exc.errors(include_url=False, include_input=False)
        )
        raise InvalidRequestError(f"invalid request: {problems}") from exc
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, InvalidRequestError):
            raise
        raise InvalidRequestError(f"invalid request: {type(exc).__name__}: {exc}") from exc


def _plain_text_only(request: ChatRequest) -> bool:
    """The JSON check of a request made only of scalar fields and text messages (the common
    case): only its strings can fail (a lone surrogate), so only they are checked. False for
    any other request: it gets the full check."""
    if not request.is_plain_text():
        return False
    for i, message in enumerate(request.messages):
        content = message.content
        if type(content) is not str or not content.isascii():  # ASCII is always valid
            check_json(content, f"request.messages[{i}].content")
    for name in ("model", "user", "user_id"):
        value = getattr(request, name)
        if value is not None and (type(value) is not str or not value.isascii()):
            check_json(value, f"request.{name}")
    return True


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
        return (
            f"unknown parameter {where!r}: a provider-specific field goes in "
            f"extra_body={{{where!r}: ...}}"
        )
    return f"{where or 'request'}: {err['msg']}"


def cache_mode(option: CacheMode | bool | None, cacheable: bool) -> CacheMode:
    if option is None:
        return "use" if cacheable else "bypass"
    if option is True:
        return "use"
    if option is False:
        return "bypass"
    if option not in ("use", "refresh", "bypass", "no-store"):
        raise InvalidRequestError(f"cache must be use, refresh, bypass or no-store: {option!r}")
    return option


def check_timeout(timeout: float) -> float:
    """One call's ``timeout=``: an ``InvalidRequestError`` when it is not a deadline."""
    return check_deadline(timeout, InvalidRequestError)
