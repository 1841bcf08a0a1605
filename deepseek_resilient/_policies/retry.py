"""Retries of one provider on tenacity: full-jitter exponential backoff, Retry-After honoured.

The first attempt runs without tenacity (the common, successful case pays nothing); after a
retryable failure a fresh ``AsyncRetrying`` (one per request: a shared one gives wrong results
across tasks) takes over, replaying that failure as its own first attempt so its wait/stop
logic sees every attempt.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tenacity import RetryCallState

from .._core.call import Answer, Call, Handler, Layer, Site
from .._core.clock import Clock
from .._core.config import Retry
from .._core.errors import ProviderError
from .._core.events import RetryScheduled

__all__ = ["backoff", "retry_after_failure", "retry_delay", "retry_layer"]

T = TypeVar("T")


def backoff(retry: Retry, attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: ``uniform(0, min(cap, base * 2**(attempt-1)))`` after the ``attempt``-th try."""
    ceiling = min(retry.cap, retry.base * 2.0 ** min(attempt - 1, 64))
    return (rng or random).uniform(0.0, ceiling)


def retry_delay(retry: Retry, attempt: int, error: BaseException | None) -> float:
    """The sleep before the next try: the server's hint when it gave one, else full jitter."""
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, (int, float)):
        return float(hint)
    return backoff(retry, attempt)


def _is_retryable(exc: BaseException) -> bool:
    # Only our own errors are looked at: cancellation and other BaseExceptions never retry.
    return isinstance(exc, ProviderError) and exc.retryable


async def retry_after_failure(
    attempt: Callable[[], Awaitable[T]],
    failed: ProviderError,
    retry: Retry,
    clock: Clock,
    time_left: Callable[[], float],
    may_retry: Callable[[], bool] = lambda: True,
    on_retry: Callable[[int, float, BaseException | None], None] | None = None,
) -> T:
    """Retry ``attempt`` after its first try failed with ``failed``. Stops (re-raising the
    last error, so the router fails over) when attempts are spent, when the next wait would
    outlast ``time_left()`` or the hint exceeds ``retry.max_retry_after``, or when
    ``may_retry()`` (the retry budget) says no. ``on_retry(attempt, delay, error)`` is told
    of each retry before its sleep. ``failed``: the first attempt, made inline by the
    caller, failed with this retryable error.
    """
    first: list[ProviderError] = [failed]
    # Only a failed first attempt gets here, so tenacity is imported on first need.
    from tenacity import AsyncRetrying, retry_if_exception

    async def replay_then_attempt() -> T:
        if first:
            raise first.pop()
        return await attempt()

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return retry_delay(retry, state.attempt_number, error)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= retry.attempts:
            return True
        delay = state.upcoming_sleep
        error = state.outcome.exception() if state.outcome else None
        if getattr(error, "retry_after", None) is not None and delay > retry.max_retry_after:
            return True
        if delay >= time_left():
            return True
        return not may_retry()

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            error = state.outcome.exception() if state.outcome else None
            on_retry(state.attempt_number, state.upcoming_sleep, error)

    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_retryable),
        wait=wait,
        stop=stop,
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(replay_then_attempt)


# ----------------------------------------------------------------------------- the layer


def retry_layer(site: Site) -> Layer | None:
    """The outermost per-provider layer: retries of one provider, drawing on the budget."""
    assert site.slot is not None
    budget = site.policies.budget
    may_retry = budget.try_spend if budget is not None else _always
    return functools.partial(
        _retried, site.slot.retry, site.clock, may_retry, site.slot.provider.name
    )


def _always() -> bool:
    return True


async def _retried(
    retry: Retry,
    clock: Clock,
    may_retry: Callable[[], bool],
    name: str,
    call: Call,
    next: Handler,
) -> Answer:
    try:  # the first attempt, inline: the common, successful case allocates nothing
        return await next(call)
    except ProviderError as exc:
        if retry.attempts <= 1 or not exc.retryable:
            raise
        first = exc
    on_retry = None
    if call.hooks.wants(RetryScheduled):

        def on_retry(attempt: int, delay: float, error: BaseException | None) -> None:
            kind = type(error).__name__
            call.hooks.emit(RetryScheduled(call.id, name, delay, attempt, kind))

    return await retry_after_failure(
        lambda: next(call), first, retry, clock, call.provider_time_left, may_retry, on_retry
    )
