"""Keep secrets out of every text we raise or print.

The keys given to providers are registered here at construction; ``redact`` removes them, and
anything shaped like a bearer token or an ``sk-...`` key, from a text (a server's error message,
a transport error, CLI output). ``clip`` bounds server-controlled text we keep.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MAX_TEXT", "clip", "redact", "redact_value", "register_secret"]

#: Characters of server-controlled text kept in one error message or body string.
MAX_TEXT = 2000
#: A secret shorter than this is not searched for (it would redact ordinary words).
_MIN_SECRET = 6
_MASK = "<redacted>"
_PATTERNS = re.compile(
    r"(?i)(?P<scheme>\bbearer\s+)[^\s\"',;]+"
    r"|\bsk-[A-Za-z0-9_\-]{6,}"
)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(secret: str) -> None:
    """Remember ``secret`` so that ``redact`` removes it from any text, whatever its source."""
    global _secrets
    if len(secret) < _MIN_SECRET:
        return
    with _lock:
        _secrets = _secrets | {secret}


def _mask(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{scheme}{_MASK}" if scheme else f"sk-{_MASK}"


def redact(text: str) -> str:
    """``text`` without any registered secret, bearer token or ``sk-...`` key."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return _PATTERNS.sub(_mask, text)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters cut]"


def redact_value(value: object, *, depth: int = 32, limit: int = MAX_TEXT) -> object:
    """A copy of a parsed JSON value with every string redacted and clipped, nesting past
    ``depth`` replaced by ``"..."`` and containers cut to ``limit`` items (bounded work)."""
    if isinstance(value, str):
        return clip(redact(value), limit)
    if depth <= 0 and isinstance(value, (dict, list)):
        return "..."
    if isinstance(value, dict):
        items = list(value.items())[:limit]
        return {clip(redact(str(k)), 200): redact_value(v, depth=depth - 1) for k, v in items}
    if isinstance(value, list):
        return [redact_value(v, depth=depth - 1) for v in value[:limit]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return clip(redact(repr(value)), limit)
