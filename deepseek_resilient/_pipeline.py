"""The pipeline: its order is data, held here and nowhere else.

A request goes through ``REQUEST_LAYERS`` (outermost first); the router then runs, for each
provider in priority order, a chain built from ``PROVIDER_LAYERS``. Each layer is an
``async (call, next) -> answer`` function; a layer a client doesn't use (no rate limit, no
cache) is left out when the chain is composed, so it costs nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio

from ._clock import Clock
from ._config import Retry
from ._errors import (
    AllProvidersFailed,
    APITimeoutError,
    CircuitOpenError,
    DeadlineExceeded,
    ProviderError,
    RateLimitedLocally,
)
from ._policies.retry import call_with_retries
from ._providers.base import Provider
from ._streaming import OpenedStream, open_until_commit
from ._types import Attempt, ChatCompletion, ChatRequest, Route

__all__ = ["PROVIDER_LAYERS", "REQUEST_LAYERS", "Call", "Pipeline", "ProviderSlot"]

#: Outermost first. ``validate`` runs in ``create()`` before the call enters the pipeline.
REQUEST_LAYERS: tuple[str, ...] = ("validate", "deadline", "router")
#: Per provider, outermost first: ``retry(rate_limit → breaker → attempt_timeout → send)``.
PROVIDER_LAYERS: tuple[str, ...] = ("retry", "timed_send")

#: A completion, or a stream that has committed (its first output chunk was read).
Answer = ChatCompletion | OpenedStream
Handler = Callable[["Call"], Awaitable[Answer]]
Layer = Callable[["Call", Handler], Awaitable[Answer]]


@dataclass
class Call:
    """One request on its way through the pipeline: its deadline and its route so far."""

    request: ChatRequest
    clock: Clock
    timeout: float
    started: float
    route: Route = field(default_factory=Route)
    errors: list[ProviderError] = field(default_factory=list)
    #: When the current provider must give up (set by the router): leaves time for fallbacks.
    provider_deadline: float = math.inf

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    def time_left(self) -> float:
        return self.deadline - self.clock.now()

    def provider_time_left(self) -> float:
        return min(self.deadline, self.provider_deadline) - self.clock.now()


@dataclass
class ProviderSlot:
    """A provider with the policies that apply to it (its own overrides, else the client's)."""

    provider: Provider
    retry: Retry


def _compose(layers: Sequence[Layer], terminal: Handler) -> Handler:
    handler = terminal
    for layer in reversed(layers):
        handler = functools.partial(layer, next=handler)  # type: ignore[call-arg]
    return handler


class Pipeline:
    """Composes the layers once per client; ``run`` sends one validated request through."""

    def __init__(self, slots: Sequence[ProviderSlot], clock: Clock, failover_reserve: float):
        self.slots = list(slots)
        self.clock = clock
        self.failover_reserve = failover_reserve
        self._chains = [self._provider_chain(slot) for slot in self.slots]
        self._handler = _compose(self._request_layers(), self._route)

    def describe(self) -> list[str]:
        """The order, outermost first, as the composed chains really run it."""
        return [*REQUEST_LAYERS, *(f"provider:{name}" for name in PROVIDER_LAYERS)]

    async def run(self, call: Call) -> Answer:
        return await self._handler(call)

    # -- request layers

    def _request_layers(self) -> list[Layer]:
        return [self._deadline_layer]

    async def _deadline_layer(self, call: Call, next: Handler) -> Answer:
        with anyio.move_on_after(call.time_left()) as scope:
            return await next(call)
        if scope.cancelled_caught:  # pragma: no branch
            raise DeadlineExceeded(
                f"no answer within the {call.timeout:g} s deadline", errors=call.errors
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _route(self, call: Call) -> Answer:
        """Providers in priority order; a fail-over error hands the request to the next."""
        last = len(self._chains) - 1
        for index, chain in enumerate(self._chains):
            left = call.time_left()
            share = left if index == last else left * (1.0 - self.failover_reserve)
            call.provider_deadline = self.clock.now() + share
            try:
                answer = await chain(call)
            except ProviderError as exc:
                if isinstance(exc, (CircuitOpenError, RateLimitedLocally)):
                    name = self.slots[index].provider.name
                    skipped = Attempt(provider=name, outcome="skipped", error=type(exc).__name__)
                    call.route.attempts.append(skipped)
                call.errors.append(exc)
                if not exc.failover:
                    raise
                continue
            call.route.provider = self.slots[index].provider.name
            return answer
        raise AllProvidersFailed(call.errors)

    # -- provider layers

    def _provider_chain(self, slot: ProviderSlot) -> Handler:
        factories: dict[str, Callable[[ProviderSlot], Layer | None]] = {
            "retry": self._retry_layer,
        }
        layers = [factories[name](slot) for name in PROVIDER_LAYERS[:-1]]
        return _compose([layer for layer in layers if layer is not None], self._sender(slot))

    def _retry_layer(self, slot: ProviderSlot) -> Layer | None:
        retry, clock = slot.retry, self.clock

        async def layer(call: Call, next: Handler) -> Answer:
            return await call_with_retries(
                lambda: next(call), retry, clock, call.provider_time_left
            )

        return layer

    def _sender(self, slot: ProviderSlot) -> Handler:
        """The innermost layer: one attempt at the provider, bounded by the attempt timeout
        (the provider's ``attempt_timeout`` and its share of the time left). Records it."""
        provider, clock = slot.provider, self.clock

        async def timed_send(call: Call) -> Answer:
            # The attempt's own limit applies only when it is shorter than the request's
            # deadline; otherwise the deadline itself (DeadlineExceeded) ends the attempt.
            budget = call.provider_time_left()
            if provider.attempt_timeout is not None:
                budget = min(budget, provider.attempt_timeout)
            limit = budget if budget < call.time_left() else math.inf
            streaming = call.request.stream
            if streaming and provider.first_token_timeout is not None:
                limit = min(limit, provider.first_token_timeout)
            idle = max(0.001, budget)
            started = clock.now()
            error: ProviderError | None = None
            answer: Answer
            with anyio.move_on_after(max(0.0, limit)) as scope:
                try:
                    if streaming:
                        source = provider.stream(call.request, idle_timeout=idle)
                        answer = await open_until_commit(source, provider.name)
                    else:
                        answer = await provider.complete(call.request, idle_timeout=idle)
                except ProviderError as exc:
                    error = exc
                except anyio.get_cancelled_exc_class():
                    if not scope.cancel_called:
                        _record(call, provider.name, clock.now() - started, None)
                    raise
                except Exception as exc:  # a bug in a custom provider: typed, never raw
                    error = ProviderError(f"{type(exc).__name__}: {exc}", provider=provider.name)
                    error.__cause__ = exc
                else:
                    latency = clock.now() - started
                    call.route.attempts.append(
                        Attempt(provider=provider.name, outcome="ok", latency=latency)
                    )
                    return answer
            if error is None:
                what = "no content" if streaming else "no answer"
                error = APITimeoutError(
                    f"{what} within {min(limit, budget):.3g} s: attempt abandoned",
                    provider=provider.name,
                )
            _record(call, provider.name, clock.now() - started, error)
            raise error

        return timed_send


def _record(call: Call, provider: str, latency: float, exc: ProviderError | None) -> None:
    """Append a failed attempt to the route (``exc`` None: the caller cancelled it)."""
    call.route.attempts.append(
        Attempt(
            provider=provider,
            outcome="error" if exc else "cancelled",
            error=type(exc).__name__ if exc else None,
            status_code=getattr(exc, "status_code", None),
            latency=latency,
        )
    )
