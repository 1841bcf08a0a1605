"""The option checks of ``OpenAICompatible``: a wrong option is a ``ConfigurationError``
when the provider is built, never a failed request later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._core.config import CircuitBreaker, RateLimit, Retry
from ..._core.errors import ConfigurationError
from ..._core.redact import install_log_filter, register_url_secrets
from ..._core.validation import check_base_url, check_count, check_headers, check_positive

__all__ = ["check_options"]


def check_options(options: Mapping[str, Any]) -> None:
    """``ConfigurationError`` for a wrong option of ``OpenAICompatible`` (its ``locals()``)."""
    name = options["name"]
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"name must be a non-empty str, got {name!r}")
    check_base_url(options["base_url"], name)
    model = options["model"]
    if not isinstance(model, str) or not model:
        raise ConfigurationError(f"{name}: model is required (a non-empty str), got {model!r}")
    for label in ("read_timeout", "connect_timeout"):
        check_positive(options[label], label, name, optional=False)
    for label in ("attempt_timeout", "first_token_timeout"):
        check_positive(options[label], label, name, optional=True)
    check_positive(options["keepalive_expiry"], "keepalive_expiry", name, optional=False)
    check_count(options["max_connections"], "max_connections", name, minimum=1)
    check_count(options["max_keepalive_connections"], "max_keepalive_connections", name, minimum=0)
    check_count(options["max_response_bytes"], "max_response_bytes", name, minimum=1024)
    check_count(options["max_event_bytes"], "max_event_bytes", name, minimum=1024)
    for label, kind in (("retry", Retry), ("breaker", CircuitBreaker), ("rate_limit", RateLimit)):
        value = options[label]
        if value is not None and not isinstance(value, kind):
            raise ConfigurationError(
                f"{name}: {label} must be a {kind.__name__}(...) or None, "
                f"got {type(value).__name__}"
            )
    check_headers(options["headers"], name)
    register_url_secrets(options["base_url"])
    install_log_filter()
