"""Input checks that run before any I/O: a request must be plain JSON of sane depth, an API
key must be a clean header value, and the client's options must have the right types.

Each failure is our own typed error (``InvalidRequestError`` / ``ConfigurationError``) that
names the field and never echoes a key.
"""

from __future__ import annotations

import math
import string
import urllib.parse
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from .errors import ConfigurationError, InvalidRequestError

__all__ = [
    "MAX_DEPTH",
    "check_api_key",
    "check_base_url",
    "check_client_options",
    "check_count",
    "check_headers",
    "check_json",
    "check_listeners",
    "check_positive",
]

#: The deepest nesting of lists and objects a request body may have.
MAX_DEPTH = 32


def check_json(value: object, where: str = "request", depth: int = 0) -> None:
    """Raise ``InvalidRequestError`` unless ``value`` is plain JSON: dicts with str keys,
    lists/tuples, str (valid Unicode, no lone surrogates), int, finite float, bool, None,
    nested at most ``MAX_DEPTH`` levels."""
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError(
                f"invalid request: {where} is {value!r}, which JSON cannot hold"
            )
        return
    if isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            raise InvalidRequestError(
                f"invalid request: {where} is nested deeper than {MAX_DEPTH} levels"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidRequestError(
                        f"invalid request: {where} has a {type(key).__name__} key; JSON keys "
                        "are strings"
                    )
                _check_text(key, where)
                check_json(item, f"{where}.{key}", depth + 1)
        else:
            for index, item in enumerate(value):
                check_json(item, f"{where}[{index}]", depth + 1)
        return
    raise InvalidRequestError(
        f"invalid request: {where} is a {type(value).__name__}, which is not JSON "
        "(use str, int, float, bool, None, list or dict; encode bytes as base64 text)"
    )


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"invalid request: {where} holds a lone surrogate, which is not valid Unicode"
        ) from None


# ----------------------------------------------------------------------------- providers


def check_api_key(key: object, provider: object) -> SecretStr | None:
    """The key as a ``SecretStr``, surrounding whitespace stripped (a key read from a file
    ends with a newline). A key with a control, space or non-ASCII character inside is a
    ``ConfigurationError`` that never shows the key."""
    if key is None:
        return None
    if isinstance(key, SecretStr):
        raw = key.get_secret_value()
    elif isinstance(key, str):
        raw = key
    else:
        raise ConfigurationError(
            f"{provider}: api_key must be a str or SecretStr, got {type(key).__name__}"
        )
    raw = raw.strip()
    if not raw:
        raise ConfigurationError(f"{provider}: api_key is empty")
    if not all("\x21" <= ch <= "\x7e" for ch in raw):
        raise ConfigurationError(
            f"{provider}: api_key holds a control, space or non-ASCII character "
            "(check the file or variable it was read from; the key is not shown)"
        )
    from .redact import register_secret

    register_secret(raw)
    return SecretStr(raw)


def check_base_url(base_url: object, provider: object) -> str:
    """``base_url`` if it is an http(s) URL with a host and no whitespace or control
    characters; else ``ConfigurationError``."""
    fix = "pass an http:// or https:// URL such as 'https://api.deepseek.com'"
    if not isinstance(base_url, str):
        raise ConfigurationError(
            f"{provider}: base_url must be a str, got {type(base_url).__name__}: {fix}"
        )
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{provider}: base_url must start with http:// or https://")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in base_url):
        raise ConfigurationError(f"{provider}: base_url holds whitespace or a control character")
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigurationError(f"{provider}: base_url is malformed ({exc}): {fix}") from None
    if not parts.hostname:
        raise ConfigurationError(f"{provider}: base_url has no host: {fix}")
    return base_url


#: Header names whose value is a secret (matched as substrings of the lower-cased name).
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "session")
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


def check_headers(headers: object, provider: object) -> dict[str, str]:
    """``headers`` as a dict, checked: names are HTTP tokens, values are visible ASCII or
    spaces/tabs inside (no CR, LF or other control character: such a value breaks every request,
    and a secret read from a file with its newline would reach the HTTP library's logs). A
    ``ConfigurationError`` names the header, never its value. The value of a header whose name
    says it holds a secret (``Authorization``, ``api-key``, ``X-Auth-Token``, ...) is registered
    for redaction."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigurationError(f"{provider}: headers must be a mapping of str to str")
    from .redact import register_secret

    for name, value in headers.items():
        if not name or not set(name) <= _TOKEN_CHARS:
            raise ConfigurationError(
                f"{provider}: header name {name[:60]!r} is not a valid HTTP header name"
            )
        if not all(ch == "\t" or "\x20" <= ch <= "\x7e" for ch in value):
            raise ConfigurationError(
                f"{provider}: the value of header {name!r} holds a line break, control or "
                "non-ASCII character (a value read from a file ends with a newline: strip it; "
                "the value is not shown)"
            )
        if any(word in name.lower() for word in _SECRET_HEADER_WORDS):
            parts = value.split()
            register_secret(value)
            if len(parts) > 1:  # "Bearer xyz", "Basic abc=": the credentials alone too
                register_secret(parts[-1])
    return dict(headers)


def check_positive(value: object, field: str, provider: object, *, optional: bool) -> None:
    """A positive finite number of seconds (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"{provider}: {field} must be a number of seconds, got {type(value).__name__}"
        )
    if not (0 < value < math.inf):
        raise ConfigurationError(f"{provider}: {field} must be > 0 and finite, got {value!r}")


def check_count(value: object, field: str, provider: object, *, minimum: int) -> None:
    """An int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{provider}: {field} must be an int, got {type(value).__name__}")
    if not minimum <= value < 2**31:
        raise ConfigurationError(
            f"{provider}: {field} must be >= {minimum} (and < 2**31), got {value!r}"
        )


# ----------------------------------------------------------------------------- client

#: The methods pybreaker calls on every listener, for every call and state change.
_LISTENER_METHODS = ("before_call", "failure", "success", "state_change")


def check_listeners(listeners: object) -> None:
    """``breaker_listeners`` must be a sequence of objects with the methods pybreaker calls
    (a ``pybreaker.CircuitBreakerListener`` subclass has them all): anything else would fail
    every request."""
    if isinstance(listeners, (str, bytes, Mapping)) or not hasattr(listeners, "__iter__"):
        raise ConfigurationError("breaker_listeners must be a sequence of listener objects")
    if iter(listeners) is listeners:
        return  # a one-shot iterator: checking it would consume it
    for index, listener in enumerate(listeners):
        missing = [m for m in _LISTENER_METHODS if not callable(getattr(listener, m, None))]
        if isinstance(listener, type) or missing:
            raise ConfigurationError(
                f"breaker_listeners[{index}] is a {type(listener).__name__}, not a breaker "
                f"listener (it lacks {', '.join(missing) or 'an instance'}): subclass "
                "pybreaker.CircuitBreakerListener, or better, pass a hook with "
                "on_breaker_state_changed in hooks="
            )


def check_timeout(timeout: object, error: type[Exception] = ConfigurationError) -> float:
    """A request deadline: a finite positive number of seconds (``error`` otherwise: a
    ``ConfigurationError`` for a client's, an ``InvalidRequestError`` for one call's)."""
    if isinstance(timeout, bool) or not (
        isinstance(timeout, (int, float)) and 0 < timeout < math.inf
    ):
        raise error(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def check_client_options(options: Mapping[str, Any]) -> None:
    """Types of ``AsyncClient``'s options (its ``locals()`` at entry): ``ConfigurationError``
    naming the option and the fix, before anything is built."""
    from .config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget

    kinds: dict[str, type] = {
        "retry": Retry,
        "breaker": CircuitBreaker,
        "rate_limit": RateLimit,
        "retry_budget": RetryBudget,
        "cache": Cache,
    }
    for name, kind in kinds.items():
        value = options.get(name)
        if value is not None and not isinstance(value, kind):
            raise ConfigurationError(
                f"{name} must be a {kind.__name__}(...) or None, got {type(value).__name__}: "
                f"pass e.g. {name}={kind.__name__}()"
            )
    check_timeout(options.get("timeout", 60.0))
    reserve = options.get("failover_reserve", 0.25)
    if isinstance(reserve, bool) or not isinstance(reserve, (int, float)):
        raise ConfigurationError(
            f"failover_reserve must be a number within [0, 1), got {type(reserve).__name__}"
        )
    coalesce = options.get("coalesce", True)
    if not isinstance(coalesce, bool):
        raise ConfigurationError(f"coalesce must be True or False, got {type(coalesce).__name__}")
    check_listeners(options.get("breaker_listeners", ()))
    clock = options.get("clock")
    if clock is not None and not (hasattr(clock, "now") and hasattr(clock, "sleep")):
        raise ConfigurationError("clock must have now() and sleep() (e.g. testing.FakeClock)")
    providers = options.get("providers")
    if providers is not None and (
        isinstance(providers, (str, bytes, Mapping)) or not hasattr(providers, "__iter__")
    ):
        raise ConfigurationError("providers must be a list of providers, e.g. [DeepSeek()]")
