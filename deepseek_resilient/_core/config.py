"""Frozen policy configs. Set client-wide, override per provider. Bad values raise
``ConfigurationError`` at construction, never later in a request."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

from .errors import ConfigurationError
from .frozen import Frozen, fill_fields, frozen_dict, mark_frozen

__all__ = ["Cache", "CircuitBreaker", "RateLimit", "Retry", "RetryBudget"]


class _Checked(Frozen):
    """Validation shared by the configs: every numeric field is finite and in range.

    Each config is a frozen dataclass that compiles nothing at ``import deepseek_resilient``
    (``frozen_dict``): ``Frozen`` holds its ``repr``, ``==``, ``hash`` and frozen-ness (by
    field), and it writes its ``__init__`` out, which ends with ``__post_init__`` as a
    dataclass's does."""

    _positive: tuple[str, ...] = ()
    _non_negative: tuple[str, ...] = ()
    _fraction: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in fields(self):  # type: ignore[arg-type]
            _check_type(name, f.name, str(f.type), getattr(self, f.name))
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or isinstance(value, (str, Path)):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                raise ConfigurationError(f"{name}.{f.name} must be finite, got {value!r}")
            if f.name in self._positive and value <= 0:
                raise ConfigurationError(f"{name}.{f.name} must be > 0, got {value!r}")
            if f.name in self._non_negative and value < 0:
                raise ConfigurationError(f"{name}.{f.name} must be >= 0, got {value!r}")
            if f.name in self._fraction and not 0 <= value <= 1:
                raise ConfigurationError(f"{name}.{f.name} must be within [0, 1], got {value!r}")


#: The largest int a count may be (a window of 10**20 calls is a typo, not a plan; it would
#: overflow a C ssize_t). Large byte sizes such as ``Cache.size_limit`` stay well below it.
_MAX_INT = 2**62


def _check_type(owner: str, field: str, annotation: str, value: object) -> None:
    """``ConfigurationError`` when ``value`` does not match the field's annotation
    (``int``, ``float``, ``... | None``, ``str | Path``): ``Retry(attempts="3")`` fails here."""
    kinds = {part.strip() for part in annotation.split("|")}
    if value is None:
        if "None" in kinds:
            return
        raise ConfigurationError(f"{owner}.{field} may not be None")
    if kinds & {"str", "Path"} and isinstance(value, (str, Path)):
        return
    if isinstance(value, bool):
        pass  # True is an int to Python, never a count or a number of seconds here
    elif "int" in kinds and isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise ConfigurationError(f"{owner}.{field} is too large: {value!r}")
        return
    elif "float" in kinds and isinstance(value, (int, float)):
        return
    wanted = " or ".join(sorted(kinds - {"None"}))
    raise ConfigurationError(
        f"{owner}.{field} must be {wanted}, got {type(value).__name__} {value!r}: "
        f"pass e.g. {owner}({field}={_EXAMPLES.get(wanted, 1)!r})"
    )


_EXAMPLES: dict[str, object] = {"float": 1.0, "int": 3, "Path or str": "/path/to/dir"}


@frozen_dict
class Retry(_Checked):
    """Retries of one provider: full-jitter exponential backoff, Retry-After honoured.

    The n-th retry sleeps ``uniform(0, min(cap, base * 2**(n-1)))`` seconds, or exactly the
    server's Retry-After hint when it gave one. A hint longer than ``max_retry_after`` or than
    the time left fails over to the next provider at once instead of sleeping.
    """

    attempts: int = 3
    """Tries per provider, the first included (1 disables retries)."""
    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 30.0
    """The longest server hint (Retry-After / retry-after-ms) slept on; a longer one fails
    over at once."""

    _positive = ("attempts", "cap")
    _non_negative = ("base", "max_retry_after")

    def __init__(
        self,
        attempts: int = 3,
        base: float = 0.5,
        cap: float = 8.0,
        max_retry_after: float = 30.0,
    ) -> None:
        fill_fields(self, attempts, base, cap, max_retry_after)
        self.__post_init__()


@frozen_dict
class CircuitBreaker(_Checked):
    """A per-provider breaker that opens on a failure rate over the last ``window`` calls."""

    window: int = 20
    min_calls: int = 5
    failure_rate: float = 0.5
    slow_call: float | None = None
    """Calls slower than this many seconds count as failures (None: never)."""
    open_for: float = 5.0
    """Open period after a trip; each failed probe doubles it, up to ``max_open_for``."""
    max_open_for: float = 10.0
    """The longest wait between probes of a failing provider: a recovered provider is back in
    use within this time, and a dead one costs at most one probe per this period."""
    auth_open_for: float = 3600.0
    """Open period after a 401/402/403 (bad key or no balance)."""
    probe_timeout: float = 300.0
    """A half-open probe that has not reported back after this many seconds is presumed lost,
    and the next caller becomes the probe."""

    _positive = (
        "window",
        "min_calls",
        "open_for",
        "max_open_for",
        "auth_open_for",
        "slow_call",
        "probe_timeout",
    )
    _fraction = ("failure_rate",)

    def __init__(
        self,
        window: int = 20,
        min_calls: int = 5,
        failure_rate: float = 0.5,
        slow_call: float | None = None,
        open_for: float = 5.0,
        max_open_for: float = 10.0,
        auth_open_for: float = 3600.0,
        probe_timeout: float = 300.0,
    ) -> None:
        fill_fields(
            self, window, min_calls, failure_rate, slow_call, open_for, max_open_for,
            auth_open_for, probe_timeout,
        )  # fmt: skip
        self.__post_init__()


@frozen_dict
class RateLimit(_Checked):
    """Client-side limits for one provider (None: unlimited)."""

    requests_per_second: float | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    burst: int | None = None
    """Capacity of the request buckets: how many requests may start at once.
    None: one period's budget (``requests_per_second`` or ``requests_per_minute``, at least 1)."""
    max_concurrency: int | None = None
    decrease_factor: float = 0.5
    """On a 429 the effective rates and concurrency are multiplied by this (AIMD)."""
    increase_step: float = 0.05
    """Each success adds this fraction of the configured rates back (AIMD), up to 100 %."""
    min_factor: float = 0.1
    """The effective rates never fall below this fraction of the configured ones."""
    low_priority_headroom: float = 0.2
    """Fraction of every bucket and of ``max_concurrency`` that low-priority calls leave free."""
    max_pause: float = 60.0
    """The longest a 429's Retry-After pauses the provider (a larger hint is cut to this)."""

    _positive = (
        "requests_per_second",
        "requests_per_minute",
        "tokens_per_minute",
        "burst",
        "max_concurrency",
        "min_factor",
        "max_pause",
    )
    _non_negative = ("increase_step",)
    _fraction = ("decrease_factor", "min_factor", "low_priority_headroom")

    def __init__(
        self,
        requests_per_second: float | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        burst: int | None = None,
        max_concurrency: int | None = None,
        decrease_factor: float = 0.5,
        increase_step: float = 0.05,
        min_factor: float = 0.1,
        low_priority_headroom: float = 0.2,
        max_pause: float = 60.0,
    ) -> None:
        fill_fields(
            self, requests_per_second, requests_per_minute, tokens_per_minute, burst,
            max_concurrency, decrease_factor, increase_step, min_factor, low_priority_headroom,
            max_pause,
        )  # fmt: skip
        self.__post_init__()


@frozen_dict
class Cache(_Checked):
    """Disk cache of answers. ``directory`` defaults to the user cache dir
    (or ``$DEEPSEEK_RESILIENT_CACHE_DIR``)."""

    ttl: float = 3600.0
    stale_if_error: float = 86400.0
    """How long past expiry an entry may still answer when every provider fails."""
    directory: str | Path | None = None
    """Where the SQLite file lives (created 0700). None: ``$DEEPSEEK_RESILIENT_CACHE_DIR``,
    else the platform's user cache dir (``~/.cache/deepseek-resilient`` on Linux)."""
    size_limit: int = 512 * 1024 * 1024
    """Bytes on disk; the oldest stored entries are evicted past it."""
    lock_timeout: float = 0.25
    """Seconds a read or write waits for another process's lock; then it is a miss or a
    skipped write, never an error (reads run on the event loop, so keep this small)."""

    _positive = ("ttl", "size_limit", "lock_timeout")
    _non_negative = ("stale_if_error",)

    def __init__(
        self,
        ttl: float = 3600.0,
        stale_if_error: float = 86400.0,
        directory: str | Path | None = None,
        size_limit: int = 512 * 1024 * 1024,
        lock_timeout: float = 0.25,
    ) -> None:
        fill_fields(self, ttl, stale_if_error, directory, size_limit, lock_timeout)
        self.__post_init__()


@frozen_dict
class RetryBudget(_Checked):
    """Client-wide cap on retries (gRPC/Finagle style), so a failure storm can't multiply the
    load upstream: each request deposits ``ratio`` retries, plus ``min_per_second`` as a floor;
    deposits expire after ``window`` seconds. When the budget is spent, a failure fails over
    at once instead of retrying."""

    ratio: float = 0.2
    min_per_second: float = 10.0
    window: float = 10.0

    _non_negative = ("ratio", "min_per_second")
    _positive = ("window",)

    def __init__(
        self, ratio: float = 0.2, min_per_second: float = 10.0, window: float = 10.0
    ) -> None:
        fill_fields(self, ratio, min_per_second, window)
        self.__post_init__()


#: Declared unfrozen to ``dataclass`` above, so that it compiles nothing (see ``frozen``).
mark_frozen(Retry, CircuitBreaker, RateLimit, Cache, RetryBudget)
