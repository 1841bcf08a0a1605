"""The events a client emits, as frozen dataclasses: what hooks receive (see docs/extending.md).

Each event class names the hook method that receives it (``hook_method``): a hook is any object
with some of those methods (``on_request_finished(event)``, ``on_failover(event)``, ...); it
implements only the ones it needs. Events carry names, numbers and error *type* names, never a
key, a prompt or an answer's text. ``request_id`` ties the events of one request together
(unique per client). Times are seconds on the client's clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from .frozen import Frozen, fill, frozen, mark_frozen

if TYPE_CHECKING:
    from .._models import Route

__all__ = [
    "EVENT_TYPES",
    "AttemptFinished",
    "AttemptStarted",
    "BreakerStateChanged",
    "CacheLookup",
    "Coalesced",
    "Event",
    "Failover",
    "RateLimitRefused",
    "RateLimitWaited",
    "RequestFinished",
    "RequestStarted",
    "RetryScheduled",
    "StateDegraded",
    "StreamCommitted",
    "StreamIncomplete",
    "StreamRecovered",
    "TokenUsage",
]

BreakerStateName = Literal["closed", "open", "half-open"]


@frozen
class Event(Frozen):
    """Base class of every event: a frozen dataclass with slots.

    ``Frozen`` holds the ``repr``, ``==``, ``hash`` and frozen-ness of all events (a
    dataclass's, by field), and each event class writes its ``__init__`` out (with ``fill``):
    ``@dataclass`` compiles nothing for them at import (see ``frozen``)."""

    hook_method: ClassVar[str] = "on_event"


@frozen
class TokenUsage(Frozen):
    """Tokens of one answer: ``input`` (prompt), ``output`` (completion) and ``cache_hit``
    (DeepSeek's ``prompt_cache_hit_tokens``: prompt tokens served from its context cache)."""

    input: int = 0
    output: int = 0
    cache_hit: int = 0

    def __init__(self, input: int = 0, output: int = 0, cache_hit: int = 0) -> None:
        fill(self, input, output, cache_hit)


@frozen
class RequestStarted(Event):
    """A validated request enters the pipeline. ``model``: the one asked for, else the first
    provider's."""

    hook_method: ClassVar[str] = "on_request_started"
    request_id: int
    model: str
    stream: bool

    def __init__(self, request_id: int, model: str, stream: bool) -> None:
        fill(self, request_id, model, stream)


@frozen
class RequestFinished(Event):
    """A request ended: answered (``outcome="ok"``), failed (``"error"``: the client gave up,
    ``error_type`` says why) or, for a stream, closed by the caller before its end
    (``"cancelled"``). ``provider``: who answered (``"cache"`` for a cache hit), None when
    nobody did. ``usage``: tokens spent upstream for this request (None: none reported, or
    the answer came from the cache or another request's call). ``route``: the request's
    route (``route.summary()`` for a log line)."""

    hook_method: ClassVar[str] = "on_request_finished"
    request_id: int
    model: str
    stream: bool
    outcome: Literal["ok", "error", "cancelled"]
    provider: str | None
    error_type: str | None
    elapsed: float
    cache: str
    coalesced: bool
    usage: TokenUsage | None
    response_model: str | None
    route: Route

    def __init__(
        self, request_id: int, model: str, stream: bool,
        outcome: Literal["ok", "error", "cancelled"], provider: str | None,
        error_type: str | None, elapsed: float, cache: str, coalesced: bool,
        usage: TokenUsage | None, response_model: str | None, route: Route,
    ) -> None:  # fmt: skip
        fill(self, request_id, model, stream, outcome, provider, error_type, elapsed, cache,
              coalesced, usage, response_model, route)  # fmt: skip


@frozen
class AttemptStarted(Event):
    """One try at one provider begins (after its breaker and rate limiter admitted it).
    ``attempt``: 1 for the first try at this provider within the request."""

    hook_method: ClassVar[str] = "on_attempt_started"
    request_id: int
    provider: str
    model: str
    attempt: int
    server_address: str | None

    def __init__(
        self, request_id: int, provider: str, model: str, attempt: int, server_address: str | None
    ) -> None:
        fill(self, request_id, provider, model, attempt, server_address)


@frozen
class AttemptFinished(Event):
    """One try at one provider ended: ``ok``, ``error`` (``error_type``, ``status_code``),
    ``cancelled`` (the caller left), or ``skipped`` (never started: breaker open or local
    rate limit; ``latency`` 0)."""

    hook_method: ClassVar[str] = "on_attempt_finished"
    request_id: int
    provider: str
    model: str
    outcome: Literal["ok", "error", "cancelled", "skipped"]
    latency: float
    error_type: str | None
    status_code: int | None
    server_address: str | None

    def __init__(
        self, request_id: int, provider: str, model: str,
        outcome: Literal["ok", "error", "cancelled", "skipped"], latency: float,
        error_type: str | None, status_code: int | None, server_address: str | None,
    ) -> None:  # fmt: skip
        fill(self, request_id, provider, model, outcome, latency, error_type, status_code,
              server_address)  # fmt: skip


@frozen
class RetryScheduled(Event):
    """A failed attempt will be retried on the same provider after ``delay`` seconds;
    ``attempt`` is the number of the try that failed (1 = the first)."""

    hook_method: ClassVar[str] = "on_retry_scheduled"
    request_id: int
    provider: str
    delay: float
    attempt: int
    error_type: str

    def __init__(
        self, request_id: int, provider: str, delay: float, attempt: int, error_type: str
    ) -> None:
        fill(self, request_id, provider, delay, attempt, error_type)


@frozen
class Failover(Event):
    """The request moves from one provider to the next in the chain; ``reason`` is the
    type name of the error that made ``from_provider`` give up."""

    hook_method: ClassVar[str] = "on_failover"
    request_id: int
    from_provider: str
    to_provider: str
    reason: str

    def __init__(self, request_id: int, from_provider: str, to_provider: str, reason: str) -> None:
        fill(self, request_id, from_provider, to_provider, reason)


@frozen
class BreakerStateChanged(Event):
    """A provider's circuit breaker moved from ``old`` to ``new``."""

    hook_method: ClassVar[str] = "on_breaker_state_changed"
    provider: str
    old: BreakerStateName
    new: BreakerStateName

    def __init__(self, provider: str, old: BreakerStateName, new: BreakerStateName) -> None:
        fill(self, provider, old, new)


@frozen
class RateLimitWaited(Event):
    """The client-side rate limiter held an attempt for ``waited`` seconds before admitting it."""

    hook_method: ClassVar[str] = "on_rate_limit_waited"
    request_id: int
    provider: str
    waited: float

    def __init__(self, request_id: int, provider: str, waited: float) -> None:
        fill(self, request_id, provider, waited)


@frozen
class RateLimitRefused(Event):
    """The client-side rate limiter could not admit the request in time: the provider is
    skipped (spill-over to the next)."""

    hook_method: ClassVar[str] = "on_rate_limit_refused"
    request_id: int
    provider: str

    def __init__(self, request_id: int, provider: str) -> None:
        fill(self, request_id, provider)


@frozen
class CacheLookup(Event):
    """The cache answered (``hit``), did not (``miss``: the request went upstream), or an
    expired entry answered because every provider failed (``stale``)."""

    hook_method: ClassVar[str] = "on_cache_lookup"
    request_id: int
    result: Literal["hit", "miss", "stale"]

    def __init__(self, request_id: int, result: Literal["hit", "miss", "stale"]) -> None:
        fill(self, request_id, result)


@frozen
class Coalesced(Event):
    """The request joined an identical one already in flight and shares its answer."""

    hook_method: ClassVar[str] = "on_coalesced"
    request_id: int

    def __init__(self, request_id: int) -> None:
        fill(self, request_id)


@frozen
class StreamCommitted(Event):
    """A stream's first content reached the pipeline: no failover after this point.
    ``ttft``: time to first token, from the request's start."""

    hook_method: ClassVar[str] = "on_stream_committed"
    request_id: int
    provider: str
    ttft: float

    def __init__(self, request_id: int, provider: str, ttft: float) -> None:
        fill(self, request_id, provider, ttft)


@frozen
class StreamRecovered(Event):
    """A committed stream broke and was continued on ``provider`` (``how``: ``"continue"``
    from the delivered prefix, or ``"restart"`` emitting only what extends it);
    ``delivered_chars``: characters the caller already had."""

    hook_method: ClassVar[str] = "on_stream_recovered"
    request_id: int
    from_provider: str
    provider: str
    how: Literal["continue", "restart"]
    delivered_chars: int

    def __init__(
        self, request_id: int, from_provider: str, provider: str,
        how: Literal["continue", "restart"], delivered_chars: int,
    ) -> None:  # fmt: skip
        fill(self, request_id, from_provider, provider, how, delivered_chars)


@frozen
class StreamIncomplete(Event):
    """A committed stream broke and could not be recovered: the caller gets an
    ``IncompleteStreamError`` with ``partial_chars`` characters."""

    hook_method: ClassVar[str] = "on_stream_incomplete"
    request_id: int
    provider: str
    error_type: str
    partial_chars: int

    def __init__(self, request_id: int, provider: str, error_type: str, partial_chars: int) -> None:
        fill(self, request_id, provider, error_type, partial_chars)


@frozen
class StateDegraded(Event):
    """Shared state (e.g. Redis) failed; the client carries on with in-process state.
    ``reason``: an error type name or a short fixed text, never a URL with a password."""

    hook_method: ClassVar[str] = "on_state_degraded"
    store: str
    reason: str

    def __init__(self, store: str, reason: str) -> None:
        fill(self, store, reason)


#: Every event type, in a stable order (the hook method names come from these).
EVENT_TYPES: tuple[type[Event], ...] = (
    RequestStarted,
    RequestFinished,
    AttemptStarted,
    AttemptFinished,
    RetryScheduled,
    Failover,
    BreakerStateChanged,
    RateLimitWaited,
    RateLimitRefused,
    CacheLookup,
    Coalesced,
    StreamCommitted,
    StreamRecovered,
    StreamIncomplete,
    StateDegraded,
)

#: Declared unfrozen to ``dataclass`` above, so that it compiles nothing (see ``frozen``).
mark_frozen(Event, TokenUsage, *EVENT_TYPES)
