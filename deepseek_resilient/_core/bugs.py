"""A provider that raises something other than our errors (``KeyError``, ``TypeError``...) has
a bug: it is logged once, with its traceback, and counted as that provider's failure (a
``ProviderError`` that the router fails over from and the breaker counts), never re-raised raw.
"""

from __future__ import annotations

import logging
import traceback

from .errors import ProviderError
from .redact import redact

__all__ = ["provider_bug"]

logger = logging.getLogger("deepseek_resilient")

#: Distinct bugs remembered per provider (type, where raised); past it, nothing more is logged.
_MAX_SEEN = 100


def _origin(exc: BaseException) -> str:
    """Where ``exc`` was raised: the file and line of its innermost frame."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def provider_bug(exc: Exception, provider: str, seen: set[tuple[str, str]]) -> ProviderError:
    """The ``ProviderError`` standing for ``exc``, a bug in ``provider`` (its ``__cause__``).

    The first time a bug (exception type and the line raising it) is seen in ``seen`` (one
    set per provider of a client) it is logged at ERROR on the ``deepseek_resilient`` logger
    with its traceback (redacted); repeats are not logged again (the route, the breaker and
    the metrics still count each one)."""
    key = (type(exc).__qualname__, _origin(exc))
    first = key not in seen and len(seen) < _MAX_SEEN
    if first:
        seen.add(key)  # one event loop per client: no lock needed
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.error(
            "provider %s raised %s, a bug in the provider (counted as its failure; "
            "logged once):\n%s",
            provider,
            type(exc).__name__,
            redact(trace.rstrip()),
        )
    error = ProviderError(f"{type(exc).__name__}: {exc}", provider=provider)
    error.__cause__ = exc
    return error
