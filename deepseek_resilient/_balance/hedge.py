"""``Hedge``: a second request when the first is slow to start, and what bounds it.

``Hedge(after=0.5)`` sends the same request to another member (or the next tier) when the
first token has not arrived after 0.5 s; ``after="p95"`` uses the tier's observed 95th
percentile time to first token instead (a whole answer's time for a request that is not
streamed). The first to stream wins and the other is cancelled, its connection closed.

Hedges are paid for in tokens: each request adds ``max_extra`` to a bucket and each hedge
takes one, so hedges never exceed ``max_extra`` x requests (and a burst of slow requests
takes at most ``BURST`` of them at once).
"""

from __future__ import annotations

import math
import re

from .._core.errors import ConfigurationError
from .._core.frozen import Frozen, fill_fields, frozen_dict, mark_frozen

__all__ = ["BURST", "MIN_SAMPLES", "Hedge", "HedgeBudget", "QuantileWindow"]

#: The most hedges the bucket holds (saved up while nothing was slow).
BURST = 10.0
#: Time-to-first-token samples needed before a percentile ``after`` hedges at all.
MIN_SAMPLES = 20
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")


@frozen_dict
class Hedge(Frozen):
    """Hedged requests (off unless given): ``Client(..., hedge=Hedge())`` or
    ``Tier(..., hedge=Hedge())``.

    - ``after``: seconds without a first token before the hedge is sent, or a percentile of
      the tier's observed time to first token (``"p95"``, ``"p99"``, ``"p90"``...).
    - ``max_extra``: the most extra upstream requests, as a fraction of requests (0.05: at
      most 5 % more requests, and as many more tokens spent on prompts).
    """

    after: float | str = "p95"
    max_extra: float = 0.05

    def __init__(self, after: float | str = "p95", max_extra: float = 0.05) -> None:
        fill_fields(self, after, max_extra)  # written out: nothing compiled at import
        self.__post_init__()

    def __post_init__(self) -> None:
        after = self.after
        if isinstance(after, str):
            found = _PERCENTILE.fullmatch(after)
            if found is None or not 0 < float(found.group(1)) < 100:
                raise ConfigurationError(
                    f"Hedge.after must be seconds or a percentile such as 'p95', got {after!r}"
                )
        elif isinstance(after, bool) or not isinstance(after, (int, float)):
            raise ConfigurationError(
                f"Hedge.after must be seconds or a percentile such as 'p95', got {after!r}"
            )
        elif not (math.isfinite(after) and after >= 0):
            raise ConfigurationError(f"Hedge.after must be >= 0 seconds, got {after!r}")
        extra = self.max_extra
        if isinstance(extra, bool) or not isinstance(extra, (int, float)):
            raise ConfigurationError(f"Hedge.max_extra must be a number, got {extra!r}")
        if not (math.isfinite(extra) and 0 < extra <= 1):
            raise ConfigurationError(f"Hedge.max_extra must be within (0, 1], got {extra!r}")

    @property
    def quantile(self) -> float | None:
        """The percentile ``after`` names, as a fraction (None: ``after`` is seconds)."""
        if isinstance(self.after, str):
            return float(self.after[1:]) / 100.0
        return None

    def describe(self) -> str:
        after = self.after if isinstance(self.after, str) else f"{self.after:g}s"
        return f"hedge(after={after}, max_extra={self.max_extra:g})"


mark_frozen(Hedge)


class HedgeBudget:
    """The token bucket of hedges: ``max_extra`` per request, one per hedge, ``BURST`` at
    most. ``requests`` and ``hedges`` count what it saw."""

    __slots__ = ("hedges", "rate", "requests", "tokens")

    def __init__(self, max_extra: float) -> None:
        self.rate = max_extra
        self.tokens = 0.0
        self.requests = 0
        self.hedges = 0

    def on_request(self) -> None:
        self.requests += 1
        self.tokens = min(BURST, self.tokens + self.rate)

    def try_spend(self) -> bool:
        if self.tokens < 1.0 - 1e-9:
            return False
        self.tokens = max(0.0, self.tokens - 1.0)
        self.hedges += 1
        return True


class QuantileWindow:
    """The last ``size`` latencies; a quantile of them, recomputed every ``every`` samples
    (a request reads it in O(1))."""

    __slots__ = ("_cached", "_count", "_next", "_q", "_size", "_values", "every")

    def __init__(self, q: float, size: int = 512, every: int = 16) -> None:
        self._q = q
        self._values: list[float] = []
        self._next = 0
        self._count = 0
        self._cached: float | None = None
        self.every = every
        self._size = size

    def add(self, value: float) -> None:
        if len(self._values) < self._size:
            self._values.append(value)
        else:
            self._values[self._next] = value
            self._next = (self._next + 1) % self._size
        self._count += 1
        if self._count >= MIN_SAMPLES and (self._cached is None or self._count % self.every == 0):
            ordered = sorted(self._values)
            self._cached = ordered[max(0, math.ceil(self._q * len(ordered)) - 1)]

    def value(self) -> float | None:
        """The quantile, or None before ``MIN_SAMPLES`` samples."""
        return self._cached
