"""The events hooks receive (``AsyncClient(hooks=[...])``): frozen dataclasses, one per kind.

A hook is any object with some of these methods, each taking one event:

==============================  =====================================================
``on_request_started``          ``RequestStarted``
``on_request_finished``         ``RequestFinished`` (answered, gave up, or closed early)
``on_attempt_started``          ``AttemptStarted``
``on_attempt_finished``         ``AttemptFinished`` (ok, error, cancelled, skipped)
``on_retry_scheduled``          ``RetryScheduled``
``on_failover``                 ``Failover``
``on_breaker_state_changed``    ``BreakerStateChanged``
``on_rate_limit_waited``        ``RateLimitWaited``
``on_rate_limit_refused``       ``RateLimitRefused``
``on_cache_lookup``             ``CacheLookup`` (hit, miss, stale)
``on_coalesced``                ``Coalesced``
``on_stream_committed``         ``StreamCommitted`` (time to first token)
``on_stream_recovered``         ``StreamRecovered``
``on_stream_incomplete``        ``StreamIncomplete``
``on_state_degraded``           ``StateDegraded``
==============================  =====================================================

Hooks run on the client's event loop, inline: keep them quick and non-blocking. See
docs/extending.md.
"""

from ._core.events import (
    EVENT_TYPES,
    AttemptFinished,
    AttemptStarted,
    BreakerStateChanged,
    CacheLookup,
    Coalesced,
    Event,
    Failover,
    RateLimitRefused,
    RateLimitWaited,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    StateDegraded,
    StreamCommitted,
    StreamIncomplete,
    StreamRecovered,
    TokenUsage,
)

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
