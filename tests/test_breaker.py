"""ProviderBreaker: failure-rate window, one half-open probe, growing open period, neutrals."""

from __future__ import annotations

from typing import Any

import pybreaker
import pytest

from deepseek_resilient._core.config import CircuitBreaker
from deepseek_resilient._core.errors import (
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    InsufficientBalanceError,
    PermissionDeniedError,
    ProviderError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from deepseek_resilient._policies.breaker import ProviderBreaker
from deepseek_resilient.testing._clock import FakeClock


def err503() -> ServiceUnavailableError:
    return ServiceUnavailableError("busy", provider="p", status_code=503)


def make(**kw: Any) -> tuple[ProviderBreaker, FakeClock]:
    clock = FakeClock()
    cfg = CircuitBreaker(**{"window": 10, "min_calls": 4, "failure_rate": 0.5, **kw})
    return ProviderBreaker("p", cfg, clock), clock


def call_ok(b: ProviderBreaker, latency: float = 0.1) -> None:
    b.before_call()
    b.record_success(latency)


def call_fail(b: ProviderBreaker) -> None:
    b.before_call()
    b.record_failure(err503())


def trip(b: ProviderBreaker) -> None:
    for _ in range(b.config.window):
        if b.state != "closed":
            return
        call_fail(b)
    assert b.state == "open"


def test_not_tripped_below_min_calls() -> None:
    b, _ = make(min_calls=4)
    for _ in range(3):
        call_fail(b)
    assert b.state == "closed"
    assert b.health().failure_rate == 1.0
    call_fail(b)  # 4th call: 4/4 failures
    assert b.state == "open"


def test_trips_at_exactly_the_configured_rate_not_below() -> None:
    b, _ = make(window=10, min_calls=10, failure_rate=0.5)
    for _ in range(6):
        call_ok(b)
    for _ in range(4):
        call_fail(b)
    assert b.health().calls_in_window == 10
    assert b.health().failure_rate == pytest.approx(0.4)
    assert b.state == "closed"  # 40 % < 50 %
    # The window slides: one success leaves, a failure enters -> 5/10 = exactly 50 %.
    call_fail(b)
    assert b.state == "open"
    assert b.health().trips == 1


def test_window_forgets_old_failures() -> None:
    b, _ = make(window=4, min_calls=4, failure_rate=0.75)
    call_fail(b)
    call_fail(b)
    for _ in range(4):
        call_ok(b)  # both failures slide out
    call_fail(b)
    call_fail(b)
    assert b.state == "closed"  # 2/4 < 75 %


def test_open_refuses_without_io_and_reports_retry_in() -> None:
    b, clock = make(open_for=30.0)
    trip(b)
    clock.advance(10.0)
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()
    assert info.value.provider == "p"
    assert info.value.retry_in == pytest.approx(20.0)
    assert b.health().retry_in == pytest.approx(20.0)


def test_exactly_one_probe_in_half_open() -> None:
    b, clock = make(open_for=30.0)
    trip(b)
    clock.advance(30.0)
    b.before_call()  # the probe
    assert b.state == "half-open"
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()  # a second concurrent caller
    assert info.value.retry_in is None
    with pytest.raises(CircuitOpenError):
        b.before_call()
    assert b.health().retry_in is None


def test_probe_success_closes_and_resets_window_and_growth() -> None:
    b, clock = make(open_for=10.0, max_open_for=100.0, min_calls=4)
    trip(b)
    clock.advance(10.0)
    call_fail(b)  # failed probe -> 20 s
    clock.advance(20.0)
    b.before_call()
    b.record_success(0.1)
    assert b.state == "closed"
    h = b.health()
    assert h.calls_in_window == 0 and h.failure_rate == 0.0 and h.retry_in is None
    # After the reset, min_calls applies again and the period starts over at open_for.
    for _ in range(3):
        call_fail(b)
    assert b.state == "closed"
    call_fail(b)
    assert b.state == "open"
    assert b.health().retry_in == pytest.approx(10.0)


def test_probe_failure_doubles_the_open_period_up_to_the_cap() -> None:
    b, clock = make(open_for=10.0, max_open_for=50.0)
    trip(b)
    periods = []
    for _ in range(5):
        periods.append(b.health().retry_in)
        clock.advance(periods[-1] or 0.0)
        call_fail(b)  # the probe fails
        assert b.state == "open"
    assert periods == [10.0, 20.0, 40.0, 50.0, 50.0]
    # Still refused one tick before the period ends.
    clock.advance(49.9)
    with pytest.raises(CircuitOpenError):
        b.before_call()


def test_neutral_releases_the_probe_and_counts_nothing() -> None:
    b, clock = make()
    for _ in range(10):
        b.before_call()
        b.record_neutral()  # e.g. cancelled
    assert b.health().calls_in_window == 0
    trip(b)
    clock.advance(30.0)
    b.before_call()  # probe ...
    b.record_neutral()  # ... cancelled: it decides nothing
    assert b.state == "half-open"
    b.before_call()  # the next caller may probe at once
    b.record_success(0.1)
    assert b.state == "closed"


@pytest.mark.parametrize("cls", [BadRequestError, UnprocessableEntityError])
def test_callers_bad_request_does_not_count(cls: type[BadRequestError]) -> None:
    b, clock = make(min_calls=4)
    for _ in range(20):
        b.before_call()
        b.record_failure(cls("bad", provider="p", status_code=400))
    assert b.state == "closed"
    assert b.health().calls_in_window == 0
    # ... nor does it decide a probe.
    trip(b)
    clock.advance(30.0)
    b.before_call()
    b.record_failure(cls("bad", provider="p", status_code=400))
    assert b.state == "half-open"


@pytest.mark.parametrize(
    ("cls", "status"),
    [(AuthenticationError, 401), (InsufficientBalanceError, 402), (PermissionDeniedError, 403)],
)
def test_auth_errors_open_at_once_for_auth_open_for(
    cls: type[AuthenticationError], status: int
) -> None:
    b, clock = make(auth_open_for=3600.0, min_calls=10)
    call_ok(b)
    b.before_call()
    b.record_failure(cls("no", provider="p", status_code=status))
    assert b.state == "open"
    assert b.health().retry_in == pytest.approx(3600.0)
    clock.advance(3599.0)
    with pytest.raises(CircuitOpenError):
        b.before_call()
    clock.advance(1.0)
    b.before_call()
    assert b.state == "half-open"


def test_slow_calls_count_as_failures() -> None:
    b, _ = make(slow_call=2.0, min_calls=4, failure_rate=0.5)
    call_ok(b, latency=2.0)  # not slower than the limit
    call_ok(b, latency=2.0)
    call_ok(b, latency=5.0)
    assert b.state == "closed"
    call_ok(b, latency=5.0)  # 2 slow of 4
    assert b.state == "open"


def test_slow_probe_reopens() -> None:
    b, clock = make(slow_call=1.0, open_for=10.0, max_open_for=100.0)
    trip(b)
    clock.advance(10.0)
    call_ok(b, latency=3.0)
    assert b.state == "open"
    assert b.health().retry_in == pytest.approx(20.0)


def test_late_results_of_calls_admitted_before_the_trip_are_ignored() -> None:
    b, _ = make(min_calls=4)
    b.before_call()  # slow in-flight call
    trip(b)
    b.record_success(0.1)
    assert b.state == "open"


def test_lost_probe_is_replaced_after_probe_timeout() -> None:
    b, clock = make(open_for=10.0, probe_timeout=60.0)
    trip(b)
    clock.advance(10.0)
    b.before_call()  # the probe never reports back
    clock.advance(59.0)
    with pytest.raises(CircuitOpenError):
        b.before_call()
    clock.advance(1.0)
    b.before_call()  # presumed lost: a new probe
    b.record_success(0.1)
    assert b.state == "closed"


def test_a_replacement_probe_is_the_only_probe_in_flight() -> None:
    b, clock = make(open_for=10.0, probe_timeout=60.0)
    trip(b)
    clock.advance(10.0)
    b.before_call()  # the probe, lost
    clock.advance(60.0)
    b.before_call()  # its replacement
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError, match="probe is in flight"):
        b.before_call()


def test_a_breaker_opened_elsewhere_after_it_closed_here_refuses_for_its_period() -> None:
    b, clock = make(open_for=10.0)
    trip(b)
    clock.advance(10.0)
    b.before_call()
    b.record_success(0.1)  # closed here
    b.circuit.open()  # opened by another process through shared storage
    with pytest.raises(CircuitOpenError) as refused:
        b.before_call()
    assert refused.value.retry_in == 10.0
    clock.advance(10.0)
    b.before_call()  # its period over: the probe


def test_repr_shows_the_state_without_secrets() -> None:
    b, _ = make()
    call_fail(b)
    assert repr(b) == "ProviderBreaker('p', state='closed', failure_rate=1.00, calls=1)"


def test_health_says_when_a_half_open_breaker_takes_its_next_probe() -> None:
    b, clock = make(open_for=10.0, probe_timeout=60.0)
    trip(b)
    assert b.health().retry_in == 10.0
    clock.advance(10.0)
    b.before_call()  # the probe
    assert (b.health().state, b.health().retry_in) == ("half-open", None)  # unknown: in flight
    clock.advance(59.0)
    assert b.health().retry_in is None
    clock.advance(1.0)
    assert b.health().retry_in == 0.0  # the probe is presumed lost: the next call probes


def test_min_calls_above_window_still_trips() -> None:
    b, _ = make(window=3, min_calls=5)
    for _ in range(3):
        call_fail(b)
    assert b.state == "open"


def test_failure_rate_zero_never_trips_on_successes() -> None:
    b, _ = make(failure_rate=0.0, min_calls=1)
    for _ in range(20):
        call_ok(b)
    assert b.state == "closed"
    call_fail(b)
    assert b.state == "open"


class Recorder(pybreaker.CircuitBreakerListener):
    def __init__(self) -> None:
        self.changes: list[tuple[str | None, str]] = []
        self.failures = 0
        self.successes = 0

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        assert cb.name == "p"
        self.changes.append((old_state.name if old_state else None, new_state.name))

    def failure(self, cb: Any, exc: BaseException) -> None:
        assert cb.name == "p" and isinstance(exc, ProviderError) and exc.provider == "p"
        self.failures += 1

    def success(self, cb: Any) -> None:
        assert cb.name == "p"
        self.successes += 1


def test_pybreaker_listener_sees_transitions() -> None:
    rec = Recorder()
    clock = FakeClock()
    b = ProviderBreaker("p", CircuitBreaker(window=4, min_calls=2, open_for=5.0), clock, [rec])
    assert b.circuit.name == "p"
    call_ok(b)
    call_fail(b)  # 1/2 = 50 % -> open
    clock.advance(5.0)
    b.before_call()  # -> half-open
    b.record_failure(err503())  # -> open again
    clock.advance(10.0)
    b.before_call()  # -> half-open
    b.record_success(0.1)  # -> closed
    assert rec.changes == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]
    assert rec.failures == 2
    assert rec.successes == 2
    assert b.health().trips == 2


def test_a_slow_call_reaches_pybreaker_listeners_as_the_providers_failure() -> None:
    rec = Recorder()  # checks the circuit and the error it is handed
    b = ProviderBreaker("p", CircuitBreaker(slow_call=1.0), FakeClock(), [rec])
    b.before_call()
    b.record_success(5.0)
    assert (rec.failures, rec.successes) == (1, 0)


class Events:
    """A hook keeping the breaker's ``BreakerStateChanged`` events."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_breaker_state_changed(self, event: Any) -> None:
        self.seen.append((event.old, event.new))


@pytest.mark.parametrize("with_pybreaker", [False, True])
def test_our_circuit_tells_the_hooks_what_pybreakers_does(with_pybreaker: bool) -> None:
    # Without a pybreaker listener the state lives in our own circuit (pybreaker, which
    # imports redis, is not needed); the hooks see the same changes either way.
    from deepseek_resilient._core.hooks import Hooks

    events = Events()
    listeners: list[Any] = [Hooks([events], builtin=False).breaker_listener("p")]
    if with_pybreaker:
        listeners.append(Recorder())
    clock = FakeClock()
    b = ProviderBreaker("p", CircuitBreaker(window=4, min_calls=2, open_for=5.0), clock, listeners)
    assert isinstance(b.circuit, pybreaker.CircuitBreaker) is with_pybreaker
    assert b.circuit.name == "p" and b.state == "closed"
    call_ok(b)
    call_fail(b)  # -> open
    clock.advance(5.0)
    b.before_call()  # -> half-open
    b.record_failure(err503())  # -> open again
    b.circuit.close()  # e.g. closed by another process through shared storage
    b.circuit.close()  # no change: no event
    assert b.state == "closed"
    assert events.seen == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "open"),
        ("open", "closed"),
    ]


def test_state_lives_in_the_circuit() -> None:
    b, _ = make()
    b.circuit.open()  # e.g. opened by another process through shared storage
    assert b.state == "open"
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_in == pytest.approx(b.config.open_for)


def test_health_reports_the_time_left_below_a_second_and_a_probe_refusal_names_its_provider() -> (
    None
):
    b, clock = make(open_for=30.0)
    trip(b)
    clock.advance(29.5)
    assert b.health().retry_in == pytest.approx(0.5)
    clock.advance(0.5)
    assert b.health().retry_in == 0.0  # the probe may go now
    b.before_call()  # the probe
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()
    assert info.value.provider == "p"
    assert "probe is in flight" in str(info.value)


def test_a_call_exactly_at_the_slow_call_limit_is_not_slow() -> None:
    b, _ = make(slow_call=2.0, min_calls=1, failure_rate=0.9)
    call_ok(b, latency=2.0)
    assert (b.state, b.health().failure_rate) == ("closed", 0.0)
    call_ok(b, latency=2.01)
    assert b.health().failure_rate == 0.5
