"""Reading replies from Redis as untrusted input.

Anything another writer may have put in Redis (a person with ``redis-cli``, a broken client,
another version) is bounded the way the same value is bounded in-process: numbers must be
finite and inside the caller's caps, else they count as absent. Parsing never raises to the
caller: a reply of the wrong shape is ``Garbage`` (the link then treats Redis as unusable for
a while), a value out of bounds is absent and logged once per link.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Garbage", "finite", "text"]


class Garbage(Exception):
    """Redis answered something no store of ours writes."""


def finite(value: Any, *, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` (bytes, str or number) as a float within [low, high]; ``Garbage`` when it is
    not a finite number (so ``inf``, ``nan`` and text never reach arithmetic)."""
    try:
        if isinstance(value, bytes):
            value = value.decode("ascii")
        number = float(value)
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise Garbage(f"not a number: {value!r:.40}") from exc
    if not math.isfinite(number):
        raise Garbage(f"not a finite number: {value!r:.40}")
    return min(high, max(low, number))


def text(value: Any, limit: int = 64) -> str:
    """A short ASCII reply element (``Garbage`` when it is anything else)."""
    if isinstance(value, bytes) and len(value) <= limit:
        try:
            return value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise Garbage("non-ASCII reply") from exc
    if isinstance(value, str) and len(value) <= limit:
        return value
    raise Garbage(f"unexpected reply element {value!r:.40}")
