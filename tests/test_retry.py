"""Retries: full-jitter bounds, Retry-After honoured, hints that outlast the time fail over."""

from __future__ import annotations

import random

import anyio
import pytest
from _support import USER, http_provider
from hypothesis import given
from hypothesis import strategies as st

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    ConfigurationError,
    RateLimitError,
    Retry,
    ServiceUnavailableError,
)
from deepseek_resilient._policies.retry import backoff
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, Hang, Status

pytestmark = pytest.mark.anyio


def busy() -> ServiceUnavailableError:
    return ServiceUnavailableError("busy", status_code=503)


def limited(after: float) -> RateLimitError:
    return RateLimitError("slow down", status_code=429, retry_after=after)


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0, 10),
    cap=st.floats(0.001, 100),
    seed=st.integers(0, 2**32),
)
def test_full_jitter_bounds(attempt: int, base: float, cap: float, seed: int) -> None:
    retry = Retry(base=base, cap=cap)
    delay = backoff(retry, attempt, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** (attempt - 1))


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(1)
    delays = [backoff(Retry(base=1, cap=100), 4, rng) for _ in range(2000)]
    assert min(delays) < 0.5 and max(delays) > 7.5  # uniform over [0, 8]


@pytest.mark.parametrize(
    "bad",
    [{"attempts": 0}, {"base": -1}, {"cap": 0}, {"cap": float("nan")}, {"max_retry_after": -1}],
)
def test_bad_retry_config(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        Retry(**bad)  # type: ignore[arg-type]


async def test_retries_then_succeeds_without_real_sleep() -> None:
    clock = FakeClock()
    fake = FakeProvider("p", [busy(), busy(), "third time"])
    async with AsyncClient([fake], retry=Retry(attempts=3, base=1, cap=8), clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "third time"
    assert fake.calls == 3 and len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1 and 0 <= clock.sleeps[1] <= 2
    assert [a.outcome for a in resp.route.attempts] == ["error", "error", "ok"]  # type: ignore[union-attr]


async def test_attempts_are_capped() -> None:
    fake = FakeProvider("p", default=busy())
    async with AsyncClient([fake], retry=Retry(attempts=4, base=0), clock=FakeClock()) as c:
        with pytest.raises(AllProvidersFailed) as info:
            await c.chat.completions.create(messages=USER)
    assert fake.calls == 4 and isinstance(info.value.errors[0], ServiceUnavailableError)
    assert info.value.route is not None and len(info.value.route.attempts) == 4


async def test_retry_after_is_honoured_on_every_attempt() -> None:
    clock = FakeClock()
    fake = FakeProvider("p", [limited(2.5), limited(0.75), "ok"])
    async with AsyncClient([fake], retry=Retry(attempts=3, base=100), clock=clock) as c:
        await c.chat.completions.create(messages=USER)
    assert clock.sleeps == [2.5, 0.75]


async def test_hint_longer_than_the_cap_fails_over_at_once() -> None:
    clock = FakeClock()
    primary = FakeProvider("primary", [limited(120)])
    backup = FakeProvider("backup")
    retry = Retry(attempts=5, max_retry_after=30)
    async with AsyncClient([primary, backup], retry=retry, clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.route is not None and resp.route.provider == "backup"
    assert primary.calls == 1 and clock.sleeps == []


async def test_hint_over_max_retry_after_fails_over_even_with_time_to_spare() -> None:
    """A 2 s hint against ``max_retry_after=1`` and a 60 s timeout: only the cap can stop the
    retry (the "hint outlasts the time left" rule cannot), so without the cap the primary
    would be slept on for 2 s and asked again."""
    clock = FakeClock()
    primary = FakeProvider("primary", [limited(2)], default="primary answer")
    backup = FakeProvider("backup", default="backup answer")
    retry = Retry(attempts=5, max_retry_after=1)
    async with AsyncClient([primary, backup], retry=retry, timeout=60, clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "backup answer"
    assert primary.calls == 1 and clock.sleeps == []
    # a hint within the cap is still honoured: the same primary answers after the wait
    primary = FakeProvider("primary", [limited(1)], default="primary answer")
    async with AsyncClient([primary, backup], retry=retry, timeout=60, clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "primary answer" and clock.sleeps == [1]


async def test_an_overflowing_retry_after_fails_over_at_once(llm_server: FaultServer) -> None:
    """``Retry-After: 1e999`` is too large for a float: an excessive hint (fail over), not
    a missing one (which would retry the rate-limited provider after a short backoff)."""
    from deepseek_resilient.testing import Ok

    llm_server.script(Status(429, retry_after="1e999"))
    with FaultServer() as backup_server:
        backup_server.default = Ok("backup answer")
        providers = [
            http_provider(llm_server.base_url, retry=Retry(attempts=5, base=0.001, cap=0.002)),
            http_provider(backup_server.base_url, name="backup"),
        ]
        async with AsyncClient(providers, timeout=20) as c:
            resp = await c.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "backup answer"
    assert resp.route is not None and [a.status_code for a in resp.route.attempts] == [429, None]


async def test_hint_longer_than_the_time_left_fails_over_at_once() -> None:
    clock = FakeClock()
    primary = FakeProvider("primary", [limited(20)])
    backup = FakeProvider("backup")
    async with AsyncClient([primary, backup], timeout=10, clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.route is not None and resp.route.provider == "backup"
    assert primary.calls == 1 and clock.sleeps == []


async def test_non_retryable_errors_are_not_retried() -> None:
    from deepseek_resilient import AuthenticationError

    fake = FakeProvider("p", [AuthenticationError("bad key", status_code=401)])
    async with AsyncClient([fake], retry=Retry(attempts=5), clock=FakeClock()) as c:
        with pytest.raises(AllProvidersFailed):
            await c.chat.completions.create(messages=USER)
    assert fake.calls == 1


async def test_cancellation_is_never_retried_nor_swallowed() -> None:
    fake = FakeProvider("p", [Hang()])
    async with AsyncClient([fake], retry=Retry(attempts=5), clock=FakeClock()) as c:
        with anyio.move_on_after(0.05) as scope:
            await c.chat.completions.create(messages=USER)
    assert scope.cancelled_caught and fake.calls == 1


async def test_retries_against_the_real_server(llm_server: FaultServer) -> None:
    llm_server.script(Status(503), Status(429, retry_after="0.01"), Status(500))
    retry = Retry(attempts=4, base=0.001, cap=0.002)
    async with AsyncClient([http_provider(llm_server.base_url)], retry=retry) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert llm_server.calls == 4 and resp.route is not None
    assert [a.status_code for a in resp.route.attempts] == [503, 429, 500, None]


async def test_two_attempts_mean_one_retry() -> None:
    clock = FakeClock()
    fake = FakeProvider("p", [busy(), "second time"])
    async with AsyncClient([fake], retry=Retry(attempts=2, base=1), clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "second time"
    assert fake.calls == 2 and len(clock.sleeps) == 1


async def test_a_non_retryable_error_on_a_retry_ends_the_retries() -> None:
    """Only the first failure is checked inline; later ones are the retry loop's to judge."""
    from deepseek_resilient import AuthenticationError

    fake = FakeProvider(
        "p", [busy(), AuthenticationError("bad key", status_code=401)], default="never"
    )
    async with AsyncClient([fake], retry=Retry(attempts=5, base=0), clock=FakeClock()) as c:
        with pytest.raises(AllProvidersFailed) as info:
            await c.chat.completions.create(messages=USER)
    assert fake.calls == 2 and isinstance(info.value.errors[0], AuthenticationError)


async def test_a_hint_exactly_as_long_as_the_time_left_is_not_slept_on() -> None:
    """Sleeping all the time that is left would leave none for the next attempt."""
    clock = FakeClock()
    fake = FakeProvider("p", [limited(10)], default="never")
    async with AsyncClient([fake], retry=Retry(attempts=5), timeout=10, clock=clock) as c:
        with pytest.raises(AllProvidersFailed) as info:
            await c.chat.completions.create(messages=USER)
    assert fake.calls == 1 and clock.sleeps == []
    assert isinstance(info.value.errors[0], RateLimitError)


async def test_retries_work_when_no_hook_listens() -> None:
    """Without stats or hooks nobody receives ``RetryScheduled``: none is built, and the
    retry still happens."""
    clock = FakeClock()
    fake = FakeProvider("p", [busy()], default="second time")
    async with AsyncClient([fake], stats=False, retry=Retry(attempts=2), clock=clock) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "second time" and len(clock.sleeps) == 1
