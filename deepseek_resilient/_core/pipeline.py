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
from collections.abc import Sequence

import anyio

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
    with anyio.move_on_after(call.time_left()):
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

    def __init__(self, slots: Sequence[ProviderSlot], clock: Clock, policies: Policies) -> None:
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

    def describe(self) -> list[str]:
        """The layers this client runs, outermost first (per-provider ones prefixed)."""
        names = [*REQUEST_LAYERS, *(f"provider:{n}" for n in PROVIDER_LAYERS)]
        return [n for n in names if n in self._used]

    async def run(self, call: Call) -> Answer:
        return await self._handler(call)

    async def _route(self, call: Call) -> Answer:
        """Providers in priority order; a fail-over error hands the request to the next."""
        if self.policies.budget is not None:
            self.policies.budget.on_request()
        last = len(self._chains) - 1
        # Which providers are skipped without I/O (breaker open, context too small), checked
        # once per request; and whether one after each could still answer (O(n) in all).
        refusals = [slot.refusal(call.request) for slot in self.slots]
        more_after = _more_after(refusals)
        for index, chain in enumerate(self._chains):
            slot = self.slots[index]
            error = refusals[index]
            skipped = error is not None
            if error is None:
                try:
                    call.enter(more_after[index], self.policies.failover_reserve)
                    answer = await chain(call)
                except ProviderError as exc:
                    error = exc
                    skipped = isinstance(exc, (CircuitOpenError, RateLimitedLocally))
                else:
                    call.route.provider = slot.provider.name
                    if isinstance(answer, OpenedStream) and answer.rest is not None:
                        answer.resume = functools.partial(self._resume, call, index)
                    return answer
            reason = type(error).__name__
            if skipped:
                skip = Attempt(provider=slot.provider.name, outcome="skipped", error=reason)
                call.route.attempts.append(skip)
                self._emit_skipped(call, index, error)
            call.errors.append(error)
            if not error.failover:
                raise error
            if index < last and call.hooks.wants(Failover):
                to = self.slots[index + 1].provider.name
                call.hooks.emit(Failover(call.id, slot.provider.name, to, reason))
        raise all_failed(call.errors)

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
