"""The rate-limit layer: admission by the provider's limiter (waiting at most the provider's
share of the time left, else spilling over), AIMD feedback from 429s, and the permit's release
when the answer has settled (a stream: when the caller finished reading it).

The limiter itself is :mod:`.limiter` (this process) or a shared one (``RedisState``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ..._core.call import Answer, Call, Handler, Layer, Site, when_settled
from ..._core.config import RateLimit
from ..._core.errors import ProviderError, RateLimitError
from ..._core.events import RateLimitWaited
from ..._models import ChatCompletion
from .buckets import Permit, Priority
from .limiter import ProviderRateLimiter

if TYPE_CHECKING:
    from ..._state.base import PermitLike, RateLimiterStore

__all__ = [
    "Permit",
    "Priority",
    "ProviderRateLimiter",
    "rate_limit_layer",
]


def rate_limit_layer(site: Site) -> Layer | None:
    """The innermost policy layer of a provider (None: the provider has no limiter)."""
    assert site.slot is not None
    limiter = site.slot.limiter
    if limiter is None:
        return None
    return functools.partial(_limited, limiter, site.slot.provider.name, _counts_tokens(limiter))


def _counts_tokens(limiter: RateLimiterStore) -> bool:
    """Whether the limiter has a token budget: without one, a request's token estimate is
    never debited, so it is not computed (0 is passed). A limiter whose config is unknown gets
    the estimate."""
    config = getattr(limiter, "config", None)
    return not isinstance(config, RateLimit) or config.tokens_per_minute is not None


async def _limited(
    limiter: RateLimiterStore, name: str, counts_tokens: bool, call: Call, next: Handler
) -> Answer:
    permit = await limiter.acquire(
        tokens=call.request.estimate_tokens() if counts_tokens else 0,
        max_wait=max(0.0, min(call.provider_time_left(), call.admission_wait)),
        priority=call.priority,
        hold_for=max(0.0, call.time_left()),
    )
    if permit.waited > 0 and call.hooks.wants(RateLimitWaited):
        call.hooks.emit(RateLimitWaited(call.id, name, permit.waited))
    try:
        answer = await next(call)
    except RateLimitError as exc:
        limiter.on_rate_limited(exc.retry_after)
        permit.release()
        raise
    except BaseException:
        permit.release()
        raise
    limiter.on_success()
    return when_settled(answer, functools.partial(_release, permit))


def _release(
    permit: PermitLike, error: ProviderError | None, completion: ChatCompletion | None
) -> None:
    """Free the permit, correcting its token estimate by the answer's usage when known."""
    used = completion.usage.total_tokens if completion and completion.usage else None
    permit.release(used_tokens=used or None)
