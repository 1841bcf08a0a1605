"""One attempt at a tier's member, measured for its balancer; and what a lost race raises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

from .._core.call import Answer, Call, Handler
from .._core.clock import Clock
from .._core.errors import CircuitOpenError, ProviderError, RateLimitedLocally
from .._streaming.opening import OpenedStream
from .group import Group
from .hedge import HedgeBudget
from .race import Race

__all__ = ["attempt_measured", "race", "raise_race_errors"]


async def attempt_measured(
    chain: Handler, call: Call, group: Group, member: int, clock: Clock
) -> Answer:
    """``chain(call)``, telling the group's balancer that ``member`` has one more request in
    flight (until a stream is read to its end) and how long it took to answer (a stream: to
    its first token). A failure counts as at least twice the member's current cost, so a
    member that fails fast does not draw traffic; a cancelled attempt raises the cost to the
    time it ran."""
    balancer = group.balancer
    started = clock.now()
    if balancer is not None:
        balancer.started(member)
    try:
        answer = await chain(call)
    except BaseException as exc:
        if balancer is not None:
            now = clock.now()
            balancer.finished(member)
            if not isinstance(exc, ProviderError):
                balancer.abandoned(member, now, now - started)
            elif exc.failover and not isinstance(exc, (CircuitOpenError, RateLimitedLocally)):
                cost = balancer.members[member].cost(now)
                balancer.observe(member, now, max(now - started, 2.0 * cost))
        raise
    now = clock.now()
    latency = now - started
    group.observed(call.request.stream, latency)
    if balancer is not None:
        balancer.observe(member, now, latency)
        if isinstance(answer, OpenedStream) and answer.rest is not None:
            answer.finishers.append(lambda _error: balancer.finished(member))
        else:
            balancer.finished(member)
    return answer


async def race(
    call: Call,
    first: Callable[[], Awaitable[Answer]],
    hedge: Callable[[], Awaitable[Answer]],
    after: float,
    budget: HedgeBudget,
) -> tuple[Answer, bool]:
    """``first``, hedged by ``hedge`` after ``after`` seconds when ``budget`` allows: the
    first answer and whether it is the hedge's. Raises as ``raise_race_errors`` when every
    attempt that ran failed."""
    run = Race()
    answer = await run.run(first, hedge, after, budget.try_spend)
    call.route.hedged = call.route.hedged or run.hedged
    if answer is None:
        raise_race_errors(call, run)
    return answer, run.winner == 1


def raise_race_errors(call: Call, race: Race) -> NoReturn:
    """Every attempt of a race failed: the hedge's error joins the request's errors (a bad
    request is raised as it is), then the first attempt's error is raised for the router."""
    first, hedge = race.errors.get(0), race.errors.get(1)
    if hedge is not None and first is not None:
        if not isinstance(hedge, ProviderError):
            raise hedge
        call.errors.append(hedge)
        if not hedge.failover:
            raise hedge
    error = first if first is not None else hedge
    assert error is not None  # a race ends with a winner, an error, or is cancelled
    raise error
