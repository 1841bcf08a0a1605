"""The pipeline: its order is data, held here and nowhere else.

``LAYERS`` is the order, outermost first, as ``name -> factory``: the entries before
``router`` wrap the whole request; the router then runs, for each provider in priority order,
a chain of the entries after it. Each factory lives in the module of the policy that owns it
and builds an ``async (call, next) -> answer`` layer once per client (per provider for the
router's), or None when the client doesn't use it (no cache, no rate limit, no breaker): a
layer left out costs nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._balance.attempt import attempt_measured, race
from .._balance.group import Group, RoutePlan, build_groups, request_order
from .._models import Attempt
from .._policies.breaker import breaker_layer
from .._policies.cache.layer import cache_layer
from .._policies.coalesce import coalesce_layer
from .._policies.rate_limit.layer import rate_limit_layer
from .._policies.retry import retry_layer
from .._policies.send import (
    DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    attempt_labels,
    timed_send,
)
from .._streaming.idle import scope_after
from .._streaming.recovery import Broken
from .._streaming.splice import Splice
from .._streaming.streams import OpenedStream
from .call import Answer, Call, Handler, Layer, LayerFactory, Policies, ProviderSlot, Site, compose
from .clock import Clock
from .errors import (
    CircuitOpenError,
    ProviderError,
    RateLimitedLocally,
    all_failed,
)
from .events import AttemptFinished, Failover, RateLimitRefused
from .recovery import resume_stream

if TYPE_CHECKING:
    from .._balance.group import InFlightFactory
    from .._balance.hedge import Hedge
    from .._balance.tier import Tier

__all__ = [
    "DEFAULT_FIRST_TOKEN_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "LAYERS",
    "PROVIDER_LAYERS",
    "REQUEST_LAYERS",
    "Call",
    "Pipeline",
    "Policies",
    "ProviderSlot",
]


def deadline_layer(site: Site) -> Layer:
    """One cancel scope for the whole request: attempts, sleeps, fallbacks, stream reading."""
    return _deadline


async def _deadline(call: Call, next: Handler) -> Answer:
    with scope_after(call.time_left()):
        return await next(call)
    raise call.deadline_exceeded()


#: The order, outermost first. None: not a composed layer (``validate`` runs in ``create()``
#: before the call enters; ``router`` is ``Pipeline._route``). After ``router``: per provider.
#: The breaker sits outside the rate limiter so that an open breaker skips its provider
#: without taking (or waiting for) rate-limit capacity.
LAYERS: dict[str, LayerFactory | None] = {
    "validate": None,
    "cache": cache_layer,
    "coalesce": coalesce_layer,
    "deadline": deadline_layer,
    "router": None,
    "retry": retry_layer,
    "breaker": breaker_layer,
    "rate_limit": rate_limit_layer,
    "timed_send": timed_send,
}
_ROUTER = list(LAYERS).index("router")
#: The names of the request layers and of the per-provider ones (views of ``LAYERS``).
REQUEST_LAYERS: tuple[str, ...] = tuple(LAYERS)[: _ROUTER + 1]
PROVIDER_LAYERS: tuple[str, ...] = tuple(LAYERS)[_ROUTER + 1 :]


async def _end(call: Call) -> Answer:  # pragma: no cover - timed_send never calls next
    raise AssertionError("the innermost layer called next")


def _build(names: Sequence[str], site: Site) -> tuple[list[str], list[Layer]]:
    """The layers ``names`` that ``site`` uses (factories returning None left out)."""
    built = [(n, factory(site)) for n in names if (factory := LAYERS[n]) is not None]
    return [n for n, layer in built if layer], [layer for _, layer in built if layer]


class Pipeline:
    """Composes the layers once per client; ``run`` sends one validated request through."""

    def __init__(
        self,
        slots: Sequence[ProviderSlot],
        clock: Clock,
        policies: Policies,
        *,
        groups: Sequence[tuple[Tier | None, list[int]]] | None = None,
        hedge: Hedge | None = None,
        in_flight: InFlightFactory | None = None,
    ) -> None:
        self.slots = list(slots)
        self.clock = clock
        self.policies = policies
        self._chain_ids = [slot.identity for slot in self.slots]
        #: (model, server address) per slot, for attempt events.
        self._attempt_labels = [attempt_labels(slot.provider) for slot in self.slots]
        site = Site(clock, policies, self._chain_ids)
        used, request_layers = _build(REQUEST_LAYERS, site)
        self._used = {*used, *(n for n in REQUEST_LAYERS if LAYERS[n] is None)}
        self._chains: list[Handler] = []
        for slot in self.slots:
            used, layers = _build(PROVIDER_LAYERS, dataclasses.replace(site, slot=slot))
            self._used.update(f"provider:{n}" for n in used)
            self._chains.append(compose(layers, _end))
        self._handler = compose(request_layers, self._route)
        #: What the router walks: tiers (balanced) and lone providers, in priority order.
        specs = groups if groups is not None else [(None, [i]) for i in range(len(self.slots))]
        names = [slot.provider.name for slot in self.slots]
        self._groups: list[Group] = build_groups(specs, hedge, names, in_flight)
        self._shared = [g.balancer.shared for g in self._groups if g.balancer and g.balancer.shared]
        self._hedge = hedge
        budgets = {id(g.budget): g.budget for g in self._groups if g.budget is not None}
        self._hedge_budgets = list(budgets.values())
        #: Only lone providers (no tier): every request's order is the same and, while no
        #: provider is refused, so is each step's "could another still answer".
        self._lone = all(g.balancer is None and len(g.slots) == 1 for g in self._groups)
        order = request_order(self._groups, [True] * len(self.slots), 0.0) if self._lone else []
        self._plan = (order, _more_after([None] * len(order)))  # (read, never changed)
        #: ``run(call)``: the composed request layers (no frame of its own on every await).
        self.run: Handler = self._handler

    def describe(self) -> list[str]:
        """The layers this client runs, outermost first (per-provider ones prefixed); after
        ``router``, its tiers and hedging (``router:tier1(a|b: least_latency)``)."""
        names = [*REQUEST_LAYERS, *(f"provider:{n}" for n in PROVIDER_LAYERS)]
        used = [n for n in names if n in self._used]
        providers = [slot.provider.name for slot in self.slots]
        described = (group.describe(providers) for group in self._groups)
        extra = [f"router:{d}" for d in described if d is not None]
        if self._hedge is not None:
            extra.append(f"router:{self._hedge.describe()}")
        at = used.index("router") + 1
        return [*used[:at], *extra, *used[at:]]

    async def _route(self, call: Call) -> Answer:
        """Providers in priority order (a tier's members in its balancer's order); a
        fail-over error hands the request to the next."""
        if self.policies.budget is not None:
            self.policies.budget.on_request()
        for budget in self._hedge_budgets:
            budget.on_request()
        for shared in self._shared:  # other processes' requests in flight (least_busy)
            await shared.refresh()
        # Which providers are skipped without I/O (breaker open, context too small), checked
        # once per request; and whether one after each could still answer (O(n) in all).
        refusals = [slot.refusal(call.request) for slot in self.slots]
        if self._lone and refusals.count(None) == len(refusals):
            order, more = self._plan
            route = RoutePlan(order, refusals, more)
        else:
            order = request_order(self._groups, [r is None for r in refusals], self.clock.now())
            route = RoutePlan(order, refusals, _more_after([refusals[i] for i, _ in order]))
        for step, (index, _) in enumerate(order):
            if index in route.tried:
                continue
            error = refusals[index]
            skipped = error is not None
            if error is None:
                try:
                    return await self._send(call, route, step)
                except ProviderError as exc:
                    error = exc
                    skipped = isinstance(exc, (CircuitOpenError, RateLimitedLocally))
            self._failed(call, route, step, error, skipped)
        raise all_failed(call.errors)

    def _failed(
        self, call: Call, route: RoutePlan, step: int, error: ProviderError, skipped: bool
    ) -> None:
        """Record the failure (or skip) of a step; raise it when no other provider would
        answer better (a bad request), else tell hooks of the failover."""
        index = route.order[step][0]
        name, reason = self.slots[index].provider.name, type(error).__name__
        if skipped:
            note = getattr(error, "note", None)  # a reason in safe words (no key)
            skip = Attempt(provider=name, outcome="skipped", error=reason, note=note)
            call.route.attempts.append(skip)
            self._emit_skipped(call, index, error)
        call.errors.append(error)
        if not error.failover:
            raise error
        to = route.following(step)
        if to is not None and call.hooks.wants(Failover):
            call.hooks.emit(Failover(call.id, name, self.slots[to].provider.name, reason))

    async def _send(self, call: Call, route: RoutePlan, step: int) -> Answer:
        """Send to a step (hedged to the next candidate when its group hedges): the answer,
        with the route naming who gave it."""
        index, g = route.order[step]
        group = self._groups[g]
        call.enter(route.more_after[step], self.policies.failover_reserve)
        # In a tier, a member whose rate limit cannot admit at once hands over to a sibling.
        sibling = not self._lone and route.sibling_after(step)
        call.admission_wait = 0.0 if sibling else math.inf
        after = group.hedge_after(call.request.stream)
        hedge_to = None if after is None else route.next_candidate(step)
        if after is None or hedge_to is None:
            if group.balancer is None and not group.windows:  # inline: one frame fewer
                answer = await self._chains[index](call)
            else:
                answer = await self._attempt(call, index, group)
        else:
            answer, index, g = await self._hedged(call, route, step, hedge_to, after)
        call.admission_wait = math.inf  # a later recovery of the stream may wait
        call.route.provider = self.slots[index].provider.name
        tier = self._groups[g].name
        if tier is not None or call.route.tier is not None:  # (None unless set: not set again)
            call.route.tier = tier
        if isinstance(answer, OpenedStream) and answer.rest is not None:
            answer.resume = functools.partial(self._resume, call, index)
        return answer

    async def _attempt(self, call: Call, index: int, group: Group) -> Answer:
        """One provider's chain; a tier's balancer told of the request and its latency."""
        balancer = group.balancer
        if balancer is None and not group.windows:
            return await self._chains[index](call)
        return await attempt_measured(
            self._chains[index], call, group, group.member(index), self.clock
        )

    async def _hedged(
        self, call: Call, route: RoutePlan, step: int, hedge_to: int, after: float
    ) -> tuple[Answer, int, int]:
        """A step hedged after ``after`` seconds by step ``hedge_to``: the first answer and
        its (slot, group). Raises the first attempt's error when every attempt that ran
        failed (the hedge's error recorded in ``call.errors``)."""
        (first, g1), (second, g2) = route.order[step], route.order[hedge_to]
        sub = dataclasses.replace(call)  # the same route and errors; its own time share

        async def hedge() -> Answer:
            route.tried.add(second)  # not tried again if every attempt of the race fails
            sub.enter(route.more_after[hedge_to], self.policies.failover_reserve)
            sub.admission_wait = 0.0  # a hedge never waits for a rate limit
            return await self._attempt(sub, second, self._groups[g2])

        primary = functools.partial(self._attempt, call, first, self._groups[g1])
        budget = self._groups[g1].budget
        assert budget is not None
        answer, won = await race(call, primary, hedge, after, budget)
        return (answer, second, g2) if won else (answer, first, g1)

    def _emit_skipped(self, call: Call, index: int, exc: ProviderError) -> None:
        hooks, name = call.hooks, self.slots[index].provider.name
        if isinstance(exc, RateLimitedLocally) and hooks.wants(RateLimitRefused):
            hooks.emit(RateLimitRefused(call.id, name))
        if hooks.wants(AttemptFinished):
            model, address = self._attempt_labels[index]
            model = call.request.model or model
            hooks.emit(
                AttemptFinished(
                    call.id, name, model, "skipped", 0.0, type(exc).__name__, None, address
                )
            )

    async def _resume(self, call: Call, failed: int, broken: Broken) -> tuple[OpenedStream, Splice]:
        """A committed stream from provider ``failed`` broke (``broken``): a verified stream
        that goes on from the delivered text, in the order of ``_streaming.recovery.plan``
        (see ``_core.recovery``). Raises a ``ProviderError`` when none could."""
        return await resume_stream(
            call,
            failed,
            broken,
            slots=self.slots,
            chains=self._chains,
            reserve=self.policies.failover_reserve,
            again=lambda index: functools.partial(self._resume, call, index),
        )


def _more_after(refusals: Sequence[ProviderError | None]) -> list[bool]:
    """For each candidate, whether one after it could still answer (is not refused)."""
    more, found = [False] * len(refusals), False
    for i in range(len(refusals) - 1, -1, -1):
        more[i] = found
        found = found or refusals[i] is None
    return more
