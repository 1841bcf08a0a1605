"""Keep secrets out of every text we raise, log or print.

The keys given to providers (``api_key``, secret-looking custom headers, credentials in a
``base_url``) are registered here at construction; ``redact`` removes them, and anything shaped
like a bearer token, Basic credentials, an ``sk-...`` key or a URL's ``user:password@``, from a
text (a server's error message, a transport error, CLI output). ``RedactingFilter`` does the same
for log records, ours and the HTTP library's. ``clip`` bounds server-controlled text we keep.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import urllib.parse

__all__ = [
    "MAX_TEXT",
    "RedactingFilter",
    "clip",
    "install_log_filter",
    "redact",
    "redact_url",
    "redact_value",
    "register_secret",
    "register_url_secrets",
]

#: Characters of server-controlled text kept in one error message or body string.
MAX_TEXT = 2000
#: A secret shorter than this is not searched for (it would redact ordinary words).
_MIN_SECRET = 6
_MASK = "<redacted>"
_PATTERNS = re.compile(
    r"(?i)(?P<scheme>\bbearer\s+)[^\s\"',;]+"
    r"|(?P<basic>\bbasic\s+)(?P<b64>[A-Za-z0-9+/]{4,}={0,2})"
    r"|(?P<url>\b[a-z][a-z0-9+.\-]*://)(?P<userinfo>[^\s/?#@\"'<>]+)@"
    r"|\bsk-[A-Za-z0-9_\-]{6,}"
)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(secret: str) -> None:
    """Remember ``secret`` so that ``redact`` removes it from any text, whatever its source.
    Surrounding whitespace is ignored (a value read from a file ends with a newline)."""
    global _secrets
    secret = secret.strip()
    if len(secret) < _MIN_SECRET:
        return
    with _lock:
        _secrets = _secrets | {secret}


def register_url_secrets(url: str) -> None:
    """Register the password (raw and decoded) of a URL's ``user:password@``, and the Basic
    credentials an HTTP client builds from them."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return
    user, password = parts.username, parts.password
    if password:
        register_secret(password)
        register_secret(urllib.parse.unquote(password))
    if user is not None:  # (a Basic token too short to search for is skipped)
        raw = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password or '')}"
        register_secret(base64.b64encode(raw.encode()).decode())


def _is_basic_credentials(token: str) -> bool:
    """True when ``token`` is base64 of ``user:password`` (not an ordinary word after
    "basic", such as "basic authentication")."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return ord(":") in decoded


def _mask(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    if scheme:
        return f"{scheme}{_MASK}"
    basic = match.group("basic")
    if basic:
        token = match.group("b64")
        return f"{basic}{_MASK}" if _is_basic_credentials(token) else match.group(0)
    url = match.group("url")
    if url:
        return f"{url}{_MASK}@"
    return f"sk-{_MASK}"


def redact(text: str) -> str:
    """``text`` without any registered secret, bearer token, Basic credentials, URL
    ``user:password@`` or ``sk-...`` key."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    if text.isascii() and not _may_match(text.lower()):
        return text  # none of the patterns' literal parts: nothing for them to find
    return _PATTERNS.sub(_mask, text)


def _may_match(lowered: str) -> bool:
    """Whether an ASCII text, lower-cased, holds a literal part one of ``_PATTERNS`` needs
    (each alternative starts with one, matched case-insensitively). Non-ASCII text always
    goes to the patterns: case-insensitive matching pairs some letters beyond ASCII with
    ASCII ones (the long s with ``s``, the Kelvin sign with ``k``)."""
    return "bearer" in lowered or "basic" in lowered or "://" in lowered or "sk-" in lowered


def redact_url(url: str) -> str:
    """``url`` with its ``user:password@`` (if any) masked: for reprs and log lines."""
    return redact(url)


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


# ----------------------------------------------------------------------------- logging


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message (with its arguments merged in).

    Installed on the loggers of this package and of the HTTP library (``httpx2`` logs each
    request's URL at INFO; ``httpcore2`` logs request headers and errors at DEBUG). It never
    drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


#: Every logger that may carry a URL, a header or a server's text.
LOGGERS = (
    "deepseek_resilient",
    "deepseek_resilient.cache",
    "httpx2",
    "httpcore2",
    "httpcore2.connection",
    "httpcore2.connection_pool",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)
_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Put the redacting filter on every logger in ``LOGGERS`` (idempotent). A logger's filter
    sees only the records logged on it, so each child logger of the HTTP library gets one."""
    for name in LOGGERS:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)
