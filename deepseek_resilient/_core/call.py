"""One request on its way through the pipeline (``Call``), what a layer returns (``Answer``),
the layer and handler types, and the parts a layer factory is built from (``Site``)."""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._models import ChatCompletion, ChatRequest, Route
from .._policies.cache.key import request_key
from .._streaming.streams import OpenedStream
from .clock import Clock
from .config import Retry
from .errors import ContextLengthExceededError, DeadlineExceeded, InvalidRequestError, ProviderError
from .hooks import NO_HOOKS, Hooks

if TYPE_CHECKING:
    from .._policies.cache.key import CacheMode
    from .._policies.coalesce import Singleflight
    from .._policies.rate_limit.layer import Priority
    from .._providers.base import Provider
    from .._state.base import BreakerStore, BudgetStore, CacheStore, FlightStore, RateLimiterStore

__all__ = [
    "Answer",
    "Call",
    "Handler",
    "Layer",
    "LayerFactory",
    "Policies",
    "ProviderSlot",
    "Site",
    "compose",
    "when_complete",
    "when_settled",
]

#: A completion, or a stream that has committed (its first output chunk was read).
Answer = ChatCompletion | OpenedStream
Handler = Callable[["Call"], Awaitable[Answer]]
Layer = Callable[["Call", Handler], Awaitable[Answer]]
#: Builds a layer once per client (per provider for the router's layers); None: left out.
LayerFactory = Callable[["Site"], "Layer | None"]
#: ``settled(error, completion)``: ``error`` None when the answer ended well; ``completion``
#: the whole answer when it was not streamed (None for a stream).
Settled = Callable[[ProviderError | None, ChatCompletion | None], None]


# The dataclasses here compare by identity (``eq=False``): none is ever compared, and
# ``import deepseek_resilient`` compiles one generated method fewer for each.
@dataclass(repr=False, eq=False)
class Call:
    """One request on its way through the pipeline: its deadline, options and route so far.

    Set by ``create()`` and read-only afterwards: ``request`` (a recovery swaps it on a copy),
    ``clock``, ``timeout``, ``started``, ``cache_mode``, ``coalesce``, ``priority``, ``id``,
    ``hooks``, ``model``. What one layer writes for another, each field with its one writer:

    - ``provider_deadline`` and ``more_providers``: the router, through :meth:`enter`, before
      each provider's chain; read by rate_limit (how long to wait), retry (whether the next
      sleep fits) and timed_send (the attempt's limits).
    - ``admission_wait``: the router, before each provider's chain; read by rate_limit.
    - ``caller_cut``: timed_send, for its last attempt; read by the breaker (a timeout cut by
      the request's own budget is neutral).
    - ``key``: :meth:`Site.key`, on first need (cache and coalesce share it).
    - ``route`` and ``errors``: appended to by the layer that saw the event (attempts by
      timed_send and the router, ``cache`` by the cache layer, ``coalesced`` by coalesce).
    """

    request: ChatRequest
    clock: Clock
    timeout: float
    started: float
    cache_mode: CacheMode = "bypass"
    coalesce: bool = False
    priority: Priority = "normal"
    route: Route = field(default_factory=Route)
    errors: list[ProviderError] = field(default_factory=list)
    #: When the current provider must give up (set by the router): leaves time for fallbacks.
    provider_deadline: float = math.inf
    #: The request's cache / merge key, computed once when a layer first needs it.
    key: str | None = None
    #: Ties this request's events together; ``hooks`` receive them.
    id: int = 0
    hooks: Hooks = NO_HOOKS
    #: The model asked for, else the first provider's (for events).
    model: str = ""
    #: Another provider could still answer after the current one (set by the router): the
    #: default first-token and idle limits apply.
    more_providers: bool = False
    #: The last attempt's timeout when it came from this request's own deadline share, not
    #: from the provider's limits: neutral for the breaker (the caller's tight budget).
    caller_cut: ProviderError | None = None
    #: The longest wait for rate-limit admission (set by the router: 0 while another member
    #: of the same tier could take the request, so a busy member hands over at once).
    admission_wait: float = math.inf

    #: ``started + timeout``, kept (read on every time check).
    deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.deadline = self.started + self.timeout

    def time_left(self) -> float:
        return self.deadline - self.clock.now()

    @property
    def merges(self) -> bool:
        """Identical calls in flight may share this one's answer (the coalesce layer's
        condition: merging asked for, and not a stream)."""
        return self.coalesce and not self.request.stream

    def provider_time_left(self) -> float:
        return min(self.deadline, self.provider_deadline) - self.clock.now()

    def enter(self, more_providers: bool, failover_reserve: float) -> None:
        """The router hands the call to a provider: its share of the time left is all of it
        for the last one that could answer, else ``1 - failover_reserve`` of it."""
        share = self.time_left()
        if more_providers:
            share *= 1.0 - failover_reserve
        self.provider_deadline = self.clock.now() + share
        self.more_providers = more_providers

    def deadline_exceeded(self) -> DeadlineExceeded:
        """The error of a request whose deadline ended with no answer."""
        return DeadlineExceeded(
            f"no answer within the {self.timeout:g} s deadline", errors=self.errors
        )


@dataclass(repr=False, eq=False)
class ProviderSlot:
    """A provider with the policies that apply to it (its own overrides, else the client's)."""

    provider: Provider
    retry: Retry
    breaker: BreakerStore | None = None
    limiter: RateLimiterStore | None = None

    def refusal(self, request: ChatRequest) -> ProviderError | None:
        """Why this provider is skipped now without any I/O, or None: it cannot serve as
        configured (``Provider.unavailable``: no API key), its breaker is open (read-only: the
        breaker layer alone admits, and grants the half-open probe), or the request does not
        fit its context window. The router's cheap pre-check: the error is recorded, never
        raised (no traceback, no garbage cycle)."""
        unavailable = self.provider.unavailable()
        if unavailable is not None:
            return unavailable
        refused = self.breaker.refusal() if self.breaker is not None else None
        if refused is not None:
            return refused
        window = self.provider.context_window
        if window is not None:
            need = request.estimate_tokens()
            if need > window:
                return ContextLengthExceededError(
                    f"the request needs ~{need} tokens; the context window is {window}",
                    provider=self.provider.name,
                    status_code=400,
                )
        return None

    @property
    def identity(self) -> str:
        """What distinguishes its answers, for cache keys: never a secret."""
        p = self.provider
        return str(getattr(p, "identity", f"{p.name}|{type(p).__name__}|{p.model}"))


@dataclass(repr=False, eq=False)
class Policies:
    """The client-wide parts the request layers use (None: that layer is left out)."""

    cache: CacheStore | None = None
    singleflight: Singleflight[tuple[Answer, Route]] | None = None
    #: Merging across processes (a shared store); None: within this process only.
    flights: FlightStore | None = None
    budget: BudgetStore | None = None
    failover_reserve: float = 0.25


@dataclass(repr=False, eq=False)
class Site:
    """Where a layer is built: the client's clock and policies, and for a per-provider layer
    its provider's slot (None for a request layer)."""

    clock: Clock
    policies: Policies
    chain_ids: Sequence[str]
    slot: ProviderSlot | None = None

    def key(self, call: Call) -> str:
        """The request's cache / merge key (computed once per call)."""
        if call.key is None:
            try:
                call.key = request_key(call.request, self.chain_ids)
            except (TypeError, ValueError, RecursionError) as exc:  # validation prevents it
                raise InvalidRequestError(f"request cannot be keyed: {type(exc).__name__}") from exc
        return call.key


def compose(layers: Sequence[Layer], terminal: Handler) -> Handler:
    """``layers`` (outermost first) around ``terminal``, bound once: no per-call closures."""
    handler = terminal
    for layer in reversed(layers):
        handler = functools.partial(layer, next=handler)  # type: ignore[call-arg]
    return handler


def when_settled(answer: Answer, settled: Settled) -> Answer:
    """Call ``settled`` when ``answer`` is final: at once for a completion, when the caller
    has read a stream to its end (or it broke) for a stream. Returns ``answer``."""
    if isinstance(answer, OpenedStream):
        answer.finishers.append(lambda error: settled(error, None))
    else:
        settled(None, answer)
    return answer


def when_complete(answer: Answer, store: Callable[[ChatCompletion], None]) -> Answer:
    """Call ``store`` with the whole answer once it is known to be complete: at once for a
    completion, at a stream's normal end for a stream (never for a broken one)."""
    if isinstance(answer, OpenedStream):
        answer.on_complete.append(store)
    else:
        store(answer)
    return answer
