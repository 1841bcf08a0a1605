"""RetryBudget: retries are bounded by ratio x requests plus the per-second floor."""

from __future__ import annotations

import pytest

from deepseek_resilient._policies.budget import RetryBudget
from deepseek_resilient.testing._clock import FakeClock


def storm(budget: RetryBudget, clock: FakeClock, requests: int, gap: float) -> list[float]:
    """Every attempt fails and every retry is wanted: retry until the budget says no.
    Returns the clock time of each retry spent."""
    spent: list[float] = []
    for _ in range(requests):
        budget.on_request()
        for _ in range(3):  # up to 3 retries per request
            if not budget.try_spend():
                break
            spent.append(clock.now())
        clock.advance(gap)
    return spent


@pytest.mark.parametrize(
    ("requests", "gap"),
    [(1000, 0.01), (1000, 0.001), (10_000, 0.01), (2000, 0.05)],
)
def test_storm_is_bounded(requests: int, gap: float) -> None:
    clock = FakeClock()
    budget = RetryBudget(clock, ratio=0.2, min_per_second=10.0, window=10.0)
    spent = storm(budget, clock, requests, gap)
    elapsed = requests * gap
    # The reserve (min_per_second x window) comes back once per window.
    bound = 0.2 * requests + 10.0 * (elapsed + 10.0)
    assert len(spent) <= bound
    # ... and the budget is really usable: every deposit gets spent in a storm.
    assert len(spent) >= 0.2 * requests
    # Over any 9 s (entries live 9..10 s): retries <= reserve + 20 % of the requests then.
    for i, t in enumerate(spent):
        j = i
        while j < len(spent) and spent[j] < t + 9.0:
            j += 1
        assert j - i <= 100 + 0.2 * (9.0 / gap + 1) + 1


def test_1000_requests_exact_figures() -> None:
    clock = FakeClock()
    budget = RetryBudget(clock)
    spent = storm(budget, clock, 1000, 0.01)  # 10 s
    assert 200 <= len(spent) <= 0.2 * 1000 + 10.0 * 10.0 + 10.0 * 10.0


def test_no_requests_only_the_reserve() -> None:
    clock = FakeClock()
    budget = RetryBudget(clock, ratio=0.2, min_per_second=2.0, window=5.0)
    assert budget.balance == pytest.approx(10.0)
    assert sum(budget.try_spend() for _ in range(50)) == 10
    assert budget.try_spend() is False
    clock.advance(5.0)  # withdrawals expire with the window
    assert budget.balance == pytest.approx(10.0)
    assert budget.try_spend() is True


def test_zero_floor_needs_deposits() -> None:
    clock = FakeClock()
    budget = RetryBudget(clock, ratio=0.5, min_per_second=0.0, window=10.0)
    assert budget.try_spend() is False
    budget.on_request()
    assert budget.try_spend() is False  # 0.5 token
    budget.on_request()
    assert budget.try_spend() is True  # 1.0 token
    assert budget.try_spend() is False


def test_deposits_expire_after_the_window() -> None:
    clock = FakeClock()
    budget = RetryBudget(clock, ratio=1.0, min_per_second=0.0, window=10.0)
    for _ in range(5):
        budget.on_request()
    clock.advance(8.9)
    assert budget.balance == pytest.approx(5.0)
    clock.advance(1.1)  # 10 s later: gone
    assert budget.balance == pytest.approx(0.0)
    assert budget.try_spend() is False
    clock.advance(1000.0)  # a long quiet gap
    assert budget.balance == pytest.approx(0.0)


def test_rejects_bad_knobs() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="window must be finite and > 0, got 0"):
        RetryBudget(clock, window=0)
    with pytest.raises(ValueError, match="ratio must be finite and >= 0, got -1"):
        RetryBudget(clock, ratio=-1)
    with pytest.raises(ValueError, match="min_per_second must be finite and >= 0, got nan"):
        RetryBudget(clock, min_per_second=float("nan"))
    short = RetryBudget(clock, ratio=0.0, min_per_second=4.0, window=0.5)  # under 1 s is fine
    assert short.balance == pytest.approx(2.0)
    assert repr(short) == "RetryBudget(ratio=0.0, min_per_second=4.0, window=0.5, balance=2.00)"


def test_defaults_are_a_10_s_window_with_10_retries_per_second_of_reserve() -> None:
    clock = FakeClock(start=1000.0)  # a clock far from 0: slices are counted from its time
    budget = RetryBudget(clock)
    assert budget.balance == pytest.approx(100.0)
    for _ in range(5):
        budget.on_request()  # +0.2 each
    clock.advance(9.0)
    assert budget.balance == pytest.approx(101.0)  # still inside the window
    clock.advance(1.0)
    assert budget.balance == pytest.approx(100.0)  # 10 s later: expired


def test_deposits_expire_one_slice_at_a_time_without_drift() -> None:
    """Time moving a slice (1 s) at a time, for several windows: each deposit leaves after
    10 s, and the running sum never drifts from what the slices hold."""
    clock = FakeClock(start=1000.0)
    budget = RetryBudget(clock, ratio=1.0, min_per_second=0.0, window=10.0)
    for second in range(35):
        if second < 5:
            budget.on_request()  # +1 at t = 0..4
        expected = min(second + 1, 5) - max(0, min(second - 9, 5))
        assert budget.balance == pytest.approx(expected), second
        clock.advance(1.0)
    assert budget.balance == pytest.approx(0.0)
    budget.on_request()
    assert budget.try_spend() is True and budget.try_spend() is False


@pytest.mark.parametrize("window", [0.5, 20.0, 60.0])
def test_deposits_expire_after_any_window(window: float) -> None:
    clock = FakeClock(start=1000.0)
    budget = RetryBudget(clock, ratio=1.0, min_per_second=0.0, window=window)
    budget.on_request()
    clock.advance(window * 0.85)
    assert budget.balance == pytest.approx(1.0)
    clock.advance(window * 0.15)
    assert budget.balance == pytest.approx(0.0)
