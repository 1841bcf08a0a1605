"""HTTP answers and transport failures translated into our error tree, and the
``Retry-After`` / ``retry-after-ms`` hints read from the headers."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._core.errors import APIConnectionError, APITimeoutError, ProviderError, status_error
from ..._core.lazy import LazyModule
from ..._core.redact import MAX_TEXT
from .body import MAX_ERROR_BYTES, snippet

if TYPE_CHECKING:
    import httpx2
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = ["parse_retry_after", "status_error_from", "transport_error"]


def transport_error(exc: httpx2.HTTPError, provider: str) -> ProviderError:
    """A connection or timeout error of ours for an httpx2 failure (no httpx2 type leaks)."""
    kind = type(exc).__name__
    if isinstance(exc, httpx2.TimeoutException):
        return APITimeoutError(f"{kind}: no bytes within the idle timeout", provider=provider)
    return APIConnectionError(f"{kind}: {exc}", provider=provider)


def status_error_from(
    response: httpx2.Response, content: bytes | None, provider: str
) -> ProviderError:
    """The status error for an HTTP error answer; ``content``: (the start of) its body."""
    # The status decides the error type; the body only adds detail, parsed defensively
    # (not JSON, cut short, or nested past any sane depth: kept as a snippet).
    body: Any
    if content is None:
        content = response.content[:MAX_ERROR_BYTES]
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = snippet(content, MAX_TEXT)
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
        provider=provider,
        body=body,
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers),
    )


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date.

    A negative, NaN or unparsable hint is ignored (None); a date in the past is 0. A number too
    large for a float (``1e999``) is ``math.inf``: an excessive hint, not a missing one. Huge
    hints are returned as sent: the retry layer fails over past ``max_retry_after`` and the rate
    limiter caps its pause at ``RateLimit.max_pause``."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        value = _number(ms)
        if value is not None:
            return value / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    import email.utils  # an HTTP date (rare): not loaded at import

    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(text: str) -> float | None:
    """``text`` as a non-negative number of seconds (``inf`` when it overflows), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    if value >= 0:  # False for NaN and for negatives
        return value
    return None
