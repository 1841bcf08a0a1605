"""ProviderRateLimiter: bucket bounds, spill-over, AIMD, pause, priority; asyncio and trio."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from trio.testing import MockClock

from deepseek_resilient._core.config import RateLimit
from deepseek_resilient._core.errors import RateLimitedLocally
from deepseek_resilient._models import ChatRequest
from deepseek_resilient._models.request import DEFAULT_COMPLETION_TOKENS
from deepseek_resilient._policies.rate_limit.layer import (
    Permit,
    Priority,
    ProviderRateLimiter,
)
from deepseek_resilient.testing._clock import FakeClock


class SteppedClock:
    """A clock whose sleepers wake only when the test advances time, so several callers can
    be queued at one instant (FakeClock jumps time on the first sleep)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        entry = (self._now + seconds, anyio.Event())
        self._sleepers.append(entry)
        try:
            await entry[1].wait()
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        for target, event in list(self._sleepers):
            if target <= self._now + 1e-9:
                event.set()


async def until(cond: Callable[[], bool], limit: int = 1000) -> None:
    """Let other tasks run until ``cond`` holds (no time passes)."""
    for _ in range(limit):
        if cond():
            return
        await anyio.lowlevel.checkpoint()
    raise AssertionError("condition never became true")


def limiter(clock: Any = None, **kw: Any) -> tuple[ProviderRateLimiter, Any]:
    clock = clock or FakeClock()
    return ProviderRateLimiter("p", RateLimit(**kw), clock), clock


# ----------------------------------------------------------------------------- no limits


@pytest.mark.anyio
async def test_unlimited_is_a_noop() -> None:
    lim, clock = limiter()
    permits = [await lim.acquire(tokens=10**6, max_wait=0) for _ in range(1000)]
    assert all(p is permits[0] for p in permits)  # one shared no-op permit, nothing allocated
    permits[0].release(used_tokens=5)
    assert clock.sleeps == []
    assert lim.snapshot()["in_flight"] == 0


# ----------------------------------------------------------------------------- bounds


def assert_window_bound(times: list[float], costs: list[float], rate: float, burst: float) -> None:
    """Over ANY window [t_i, t_j]: admitted cost <= rate * (t_j - t_i) + burst."""
    prefix = [0.0]
    for c in costs:
        prefix.append(prefix[-1] + c)
    for i in range(len(times)):
        for j in range(i, len(times)):
            spent = prefix[j + 1] - prefix[i]
            assert spent <= rate * (times[j] - times[i]) + burst + 1e-6, (i, j, spent)


@pytest.mark.anyio
@pytest.mark.parametrize("seed", range(5))
async def test_requests_per_second_bound_sequential(seed: int) -> None:
    rng = random.Random(seed)
    lim, clock = limiter(requests_per_second=5, burst=3)
    times: list[float] = []
    for _ in range(200):
        if rng.random() < 0.2:
            clock.advance(rng.uniform(0, 2))  # idle gaps refill the bucket, up to burst
        p = await lim.acquire(tokens=1, max_wait=60)
        assert p.admitted_at == clock.now()
        times.append(p.admitted_at)
        p.release()
    assert_window_bound(times, [1.0] * len(times), rate=5, burst=3)
    # The bound is tight: the limiter is not simply slow.
    assert clock.now() - 1000.0 < 200 / 5 + 2 * 200


@pytest.mark.anyio
async def test_requests_per_second_bound_concurrent() -> None:
    lim, _ = limiter(requests_per_second=4, burst=2)
    times: list[float] = []

    async def one() -> None:
        p = await lim.acquire(tokens=1, max_wait=1000)
        # FakeClock: other sleepers move time on before this task resumes, so use the
        # admission time the permit records.
        times.append(p.admitted_at)
        p.release()

    async with anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(one)
    times.sort()
    assert len(times) == 60
    assert_window_bound(times, [1.0] * 60, rate=4, burst=2)


@pytest.mark.anyio
@pytest.mark.parametrize("seed", range(3))
async def test_tokens_per_minute_bound(seed: int) -> None:
    rng = random.Random(seed)
    lim, clock = limiter(tokens_per_minute=6000)  # 100 tokens/s, capacity 6000
    times: list[float] = []
    costs: list[float] = []
    for _ in range(150):
        n = rng.randint(1, 900)
        p = await lim.acquire(tokens=n, max_wait=3600)
        times.append(clock.now())
        costs.append(n)
        p.release()
    assert_window_bound(times, costs, rate=100, burst=6000)


@pytest.mark.anyio
async def test_requests_per_minute_and_burst_default() -> None:
    lim, clock = limiter(requests_per_minute=30)  # capacity: one minute's budget
    for _ in range(30):
        (await lim.acquire(tokens=1, max_wait=0)).release()
    assert clock.now() == 1000.0
    with pytest.raises(RateLimitedLocally):
        await lim.acquire(tokens=1, max_wait=1.9)
    p = await lim.acquire(tokens=1, max_wait=2.0)  # 30/min = one per 2 s
    assert clock.now() == pytest.approx(1002.0)
    p.release()


@pytest.mark.anyio
async def test_request_larger_than_the_bucket_waits_for_a_full_bucket_then_goes_into_debt() -> None:
    lim, clock = limiter(tokens_per_minute=60)  # 1 token/s, capacity 60
    (await lim.acquire(tokens=100, max_wait=0)).release()  # full bucket: admitted, level -40
    assert lim.snapshot()["tokens_available"] == pytest.approx(-40)
    with pytest.raises(RateLimitedLocally):
        await lim.acquire(tokens=10, max_wait=49)
    await lim.acquire(tokens=10, max_wait=50)
    assert clock.now() == pytest.approx(1050.0)


# ----------------------------------------------------------------------------- spill over


@pytest.mark.anyio
async def test_spill_over_at_once_without_waiting() -> None:
    lim, clock = limiter(requests_per_second=1, burst=1)
    await lim.acquire(tokens=1, max_wait=0)
    with pytest.raises(RateLimitedLocally) as info:
        await lim.acquire(tokens=1, max_wait=0.5)  # would need 1 s
    assert info.value.provider == "p"
    assert clock.sleeps == [] and clock.now() == 1000.0  # zero time waited
    assert lim.snapshot()["waiting"] == 0
    await lim.acquire(tokens=1, max_wait=1.0)  # fits: waits exactly 1 s
    assert clock.now() == pytest.approx(1001.0)


@pytest.mark.anyio
async def test_spill_over_accounts_for_the_queue_ahead() -> None:
    clock = SteppedClock()
    lim, _ = limiter(clock, requests_per_second=1, burst=1)
    await lim.acquire(tokens=1, max_wait=0)
    admitted: list[float] = []

    async def wait_one() -> None:
        await lim.acquire(tokens=1, max_wait=10)
        admitted.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_one)
        tg.start_soon(wait_one)
        await until(lambda: lim.snapshot()["waiting"] == 2)
        with pytest.raises(RateLimitedLocally):  # 3rd in line: 3 s > 2.5 s
            await lim.acquire(tokens=1, max_wait=2.5)
        for _ in range(2):
            clock.advance(1.0)
            await until(lambda: len(admitted) == _ + 1)
    assert admitted == [1001.0, 1002.0]


# ----------------------------------------------------------------------------- AIMD, pause


@pytest.mark.anyio
async def test_aimd_shrinks_on_429_and_recovers_on_success() -> None:
    lim, clock = limiter(requests_per_second=10, burst=10, max_concurrency=8)
    lim.on_rate_limited(None)
    snap = lim.snapshot()
    assert snap["requests_per_second"] == pytest.approx(5)
    assert snap["concurrency"] == 4
    assert snap["requests_available"] <= 5
    lim.on_rate_limited(None)  # same burst of 429s: counted once
    assert lim.snapshot()["requests_per_second"] == pytest.approx(5)
    for _ in range(5):
        clock.advance(1.0)
        lim.on_rate_limited(None)
    assert lim.snapshot()["requests_per_second"] == pytest.approx(1.0)  # min_factor 0.1
    assert lim.snapshot()["concurrency"] == 1
    for _ in range(9):
        lim.on_success()
    assert lim.snapshot()["requests_per_second"] == pytest.approx(5.5)
    for _ in range(100):
        lim.on_success()
    snap = lim.snapshot()
    assert snap["requests_per_second"] == pytest.approx(10) and snap["factor"] == 1.0
    assert snap["concurrency"] == 8


@pytest.mark.anyio
async def test_a_429_through_a_request_slows_the_provider_and_successes_restore_it() -> None:
    """Through the client: one 429 halves the provider's rate (its requests are spaced
    0.2 s instead of 0.1 s), and the successes that follow bring it back to the configured
    rate (without the recovery it would stay halved for good)."""
    from deepseek_resilient import AllProvidersFailed, AsyncClient, RateLimitError, Retry
    from deepseek_resilient.testing import FakeProvider

    clock = FakeClock()
    provider = FakeProvider(
        "p", ["fine"] * 6 + [RateLimitError("slow down", status_code=429)], default="fine"
    )
    limits = RateLimit(requests_per_second=10, burst=1)
    user = [{"role": "user", "content": "Hi"}]

    async def spacing(client: AsyncClient, n: int = 5) -> float:
        """Seconds per request over ``n`` back-to-back requests (after one that may use a
        token saved up in the bucket)."""
        await client.chat.completions.create(messages=user)
        started = clock.now()
        for _ in range(n):
            await client.chat.completions.create(messages=user)
        return (clock.now() - started) / n

    async with AsyncClient(
        [provider], rate_limit=limits, retry=Retry(attempts=1), clock=clock, coalesce=False
    ) as client:
        assert await spacing(client) == pytest.approx(0.1)
        with pytest.raises(AllProvidersFailed):
            await client.chat.completions.create(messages=user)
        assert await spacing(client, 1) > 0.15  # about halved by the 429 (0.2 s, then 0.18)
        await spacing(client, 20)  # 20 successes: +0.05 of the rate each, back to 1.0
        assert await spacing(client) == pytest.approx(0.1)


@pytest.mark.anyio
async def test_aimd_slows_admission_for_real() -> None:
    lim, clock = limiter(requests_per_second=10, burst=1)
    (await lim.acquire(tokens=1, max_wait=1)).release()
    lim.on_rate_limited(None)  # 5/s
    (await lim.acquire(tokens=1, max_wait=1)).release()
    assert clock.now() == pytest.approx(1000.2)


@pytest.mark.anyio
async def test_pause_is_honoured() -> None:
    lim, clock = limiter()  # no limits at all: a 429 still pauses the provider
    lim.on_rate_limited(5.0)
    assert lim.snapshot()["paused_for"] == pytest.approx(5.0)
    with pytest.raises(RateLimitedLocally):
        await lim.acquire(tokens=1, max_wait=4.0)
    assert clock.now() == 1000.0
    p = await lim.acquire(tokens=1, max_wait=6.0)
    assert clock.now() == pytest.approx(1005.0)
    p.release()
    assert lim.snapshot()["in_flight"] == 0
    await lim.acquire(tokens=1, max_wait=0)  # pause over: fast path again


@pytest.mark.anyio
async def test_pause_sheds_waiters_it_pushes_past_their_deadline() -> None:
    clock = SteppedClock()
    lim, _ = limiter(clock, requests_per_second=1, burst=1)
    await lim.acquire(tokens=1, max_wait=0)
    async with anyio.create_task_group() as tg:
        errors: list[BaseException] = []

        async def waiter() -> None:
            try:
                await lim.acquire(tokens=1, max_wait=3)
            except RateLimitedLocally as e:
                errors.append(e)

        tg.start_soon(waiter)
        await until(lambda: lim.snapshot()["waiting"] == 1)
        lim.on_rate_limited(30.0)
        await until(lambda: len(errors) == 1)
    assert clock.now() == 1000.0


# ----------------------------------------------------------------------------- priority


@pytest.mark.anyio
async def test_priority_order_with_concurrency_slots() -> None:
    lim, clock = limiter(max_concurrency=1)
    held = await lim.acquire(tokens=1, max_wait=0)
    order: list[str] = []

    async def call(name: str, prio: Priority) -> None:
        p = await lim.acquire(tokens=1, max_wait=60, priority=prio)
        order.append(name)
        await anyio.lowlevel.checkpoint()
        p.release()

    async with anyio.create_task_group() as tg:
        for name, prio in [("n1", "normal"), ("h1", "high"), ("n2", "normal"), ("h2", "high")]:
            tg.start_soon(call, name, prio)
        await until(lambda: lim.snapshot()["waiting"] == 4)
        with pytest.raises(RateLimitedLocally):  # low never waits for a slot
            await lim.acquire(tokens=1, max_wait=60, priority="low")
        held.release()
    # FIFO within a priority depends on start order, which trio shuffles; classes do not.
    assert {order[0], order[1]} == {"h1", "h2"}
    assert {order[2], order[3]} == {"n1", "n2"}
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_priority_order_with_rate_limit() -> None:
    clock = SteppedClock()
    lim, _ = limiter(clock, requests_per_second=1, burst=1)
    await lim.acquire(tokens=1, max_wait=0)  # drain
    order: list[str] = []

    async def call(prio: Priority) -> None:
        await lim.acquire(tokens=1, max_wait=100, priority=prio)
        order.append(prio)

    async with anyio.create_task_group() as tg:
        for prio in ("low", "normal", "high"):
            tg.start_soon(call, prio)
        await until(lambda: lim.snapshot()["waiting"] == 3)
        for k in range(3):
            clock.advance(1.0)
            await until(lambda: len(order) == k + 1)
    assert order == ["high", "normal", "low"]


@pytest.mark.anyio
async def test_high_arrival_sheds_a_low_waiter_pushed_past_its_deadline() -> None:
    clock = SteppedClock()
    lim, _ = limiter(clock, requests_per_second=1, burst=1, low_priority_headroom=0.0)
    await lim.acquire(tokens=1, max_wait=0)  # drain
    got: list[str] = []

    async def low() -> None:
        try:
            await lim.acquire(tokens=1, max_wait=1.5, priority="low")  # projected: 1 s
            got.append("low")
        except RateLimitedLocally:
            got.append("low shed")

    async def high() -> None:
        await lim.acquire(tokens=1, max_wait=10, priority="high")
        got.append("high")

    async with anyio.create_task_group() as tg:
        tg.start_soon(low)
        await until(lambda: lim.snapshot()["waiting"] == 1)
        tg.start_soon(high)  # jumps ahead: low now projected at 2 s > 1.5 s
        await until(lambda: got == ["low shed"])
        assert clock.now() == 1000.0  # shed at once, not at its deadline
        clock.advance(1.0)
    assert got == ["low shed", "high"]


@pytest.mark.anyio
async def test_small_request_does_not_overtake_a_big_one_queued_ahead() -> None:
    clock = SteppedClock()
    lim, _ = limiter(clock, tokens_per_minute=600)  # 10 tokens/s, capacity 600
    await lim.acquire(tokens=600, max_wait=0)  # drain
    order: list[str] = []

    async def call(name: str, n: int) -> None:
        await lim.acquire(tokens=n, max_wait=100)
        order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "big", 300)
        await until(lambda: lim.snapshot()["waiting"] == 1)
        tg.start_soon(call, "small", 5)
        await until(lambda: lim.snapshot()["waiting"] == 2)
        clock.advance(1.0)  # 10 tokens: enough for "small", but "big" is first in line
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert order == []
        clock.advance(29.0)
        await until(lambda: len(order) == 1)
        clock.advance(0.5)
        await until(lambda: len(order) == 2)
    assert order == ["big", "small"]


@pytest.mark.anyio
async def test_low_priority_leaves_headroom() -> None:
    lim, _ = limiter(requests_per_second=10, burst=10, max_concurrency=100)
    lows = 0
    while True:
        try:
            await lim.acquire(tokens=1, max_wait=0, priority="low")
        except RateLimitedLocally:
            break
        lows += 1
    assert lows == 8  # needs 1 + 20 % of 10 tokens left in the bucket
    await lim.acquire(tokens=1, max_wait=0, priority="normal")
    await lim.acquire(tokens=1, max_wait=0, priority="high")


@pytest.mark.anyio
async def test_low_priority_leaves_concurrency_headroom() -> None:
    lim, _ = limiter(max_concurrency=5)
    for _ in range(4):
        await lim.acquire(tokens=1, max_wait=0, priority="low")
    with pytest.raises(RateLimitedLocally):
        await lim.acquire(tokens=1, max_wait=60, priority="low")
    await lim.acquire(tokens=1, max_wait=0, priority="normal")  # the 5th slot


# ----------------------------------------------------------------------------- permits


@pytest.mark.anyio
async def test_release_corrects_the_token_estimate_once() -> None:
    lim, _ = limiter(tokens_per_minute=600)
    p = await lim.acquire(tokens=500, max_wait=0)
    assert lim.snapshot()["tokens_available"] == pytest.approx(100)
    assert lim.snapshot()["in_flight"] == 1
    p.release(used_tokens=120)
    assert lim.snapshot()["tokens_available"] == pytest.approx(480)
    p.release(used_tokens=0)  # idempotent
    assert lim.snapshot()["tokens_available"] == pytest.approx(480)
    assert lim.snapshot()["in_flight"] == 0
    assert p.released
    with await lim.acquire(tokens=700, max_wait=60) as q:  # used more than estimated
        assert isinstance(q, Permit)
    assert lim.snapshot()["in_flight"] == 0


@pytest.mark.anyio
async def test_concurrency_slot_is_freed_and_handed_over() -> None:
    lim, _ = limiter(max_concurrency=2)
    a = await lim.acquire(tokens=1, max_wait=0)
    await lim.acquire(tokens=1, max_wait=0)
    with pytest.raises(RateLimitedLocally):
        await lim.acquire(tokens=1, max_wait=0)
    a.release()
    await lim.acquire(tokens=1, max_wait=0)


@pytest.mark.anyio
async def test_cancelled_waiter_leaves_the_queue() -> None:
    lim, _ = limiter(max_concurrency=1)
    held = await lim.acquire(tokens=1, max_wait=0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: lim.acquire(tokens=1, max_wait=60))
        await until(lambda: lim.snapshot()["waiting"] == 1)
        tg.cancel_scope.cancel()
    assert lim.snapshot()["waiting"] == 0
    held.release()
    assert lim.snapshot()["in_flight"] == 0
    await lim.acquire(tokens=1, max_wait=0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "anyio_backend", [pytest.param(("trio", {"clock": MockClock(autojump_threshold=0)}))]
)
async def test_slot_wait_times_out_after_max_wait() -> None:
    # Slot waits are bounded by an anyio timeout; trio's autojumping MockClock makes it instant.
    lim, _ = limiter(max_concurrency=1)
    await lim.acquire(tokens=1, max_wait=0)
    start = anyio.current_time()
    with pytest.raises(RateLimitedLocally):
        await lim.acquire(tokens=1, max_wait=7.0)
    assert anyio.current_time() - start == pytest.approx(7.0)
    assert lim.snapshot()["waiting"] == 0


def test_estimate_tokens() -> None:
    req = ChatRequest.model_validate({"messages": [{"role": "user", "content": "x" * 400}]})
    assert req.estimate_tokens() == 100 + 4 + DEFAULT_COMPLETION_TOKENS
    req = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    )
    assert req.estimate_tokens() == 0 + 4 + 10


def test_config_rejects_bad_values() -> None:
    from deepseek_resilient._core.errors import ConfigurationError

    for bad in (
        {"requests_per_second": 0},
        {"decrease_factor": 1.5},
        {"min_factor": 0},
        {"low_priority_headroom": -0.1},
        {"tokens_per_minute": math.inf},
    ):
        with pytest.raises(ConfigurationError):
            RateLimit(**bad)


class _QueuedOnly(ProviderRateLimiter):
    """The limiter without its fast admission: every request goes through the queue."""

    def _admit_now(self, tokens: int, rank: int, now: float) -> Permit | None:
        return None


@pytest.mark.anyio
@pytest.mark.parametrize("seed", range(6))
async def test_admission_without_a_queue_is_what_the_queue_grants(seed: int) -> None:
    """An uncontended request is admitted without queueing a waiter: it must get what the
    queue would give it (admitted or refused at once, the same buckets and slots after)."""
    rng = random.Random(seed)
    config = RateLimit(
        requests_per_second=rng.choice([2.0, 5.0]),
        tokens_per_minute=rng.choice([None, 3000]),
        max_concurrency=rng.choice([None, 2, 3]),
        low_priority_headroom=0.25,
    )
    clocks = [SteppedClock(), SteppedClock()]
    fast = ProviderRateLimiter("p", config, clocks[0])
    queued = _QueuedOnly("p", config, clocks[1])
    held: list[tuple[Any, Any]] = []
    for _ in range(60):
        step = rng.random()
        if step < 0.2:
            seconds = rng.choice([0.05, 0.3, 1.0])
            for clock in clocks:
                clock.advance(seconds)
        elif step < 0.35 and held:
            used = rng.choice([None, 50])
            for permit in held.pop(rng.randrange(len(held))):
                permit.release(used_tokens=used)
        else:
            tokens, priority = rng.choice([10, 400, 900]), rng.choice(["high", "normal", "low"])
            got = []
            for lim in (fast, queued):
                try:
                    got.append(await lim.acquire(tokens=tokens, max_wait=0, priority=priority))
                except RateLimitedLocally:
                    got.append(None)
            assert (got[0] is None) == (got[1] is None)
            if got[0] is not None:
                held.append((got[0], got[1]))
        assert fast.snapshot() == queued.snapshot()


# ----------------------------------------------------------------------------- the layer


@pytest.mark.anyio
@pytest.mark.parametrize("tpm", [None, 600_000])
async def test_the_layer_estimates_tokens_only_for_a_token_budget(
    tpm: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``tokens_per_minute`` nothing would debit the estimate, so it is not computed;
    with one, each request's estimate is debited (and corrected by the usage at release)."""
    from deepseek_resilient import AsyncClient
    from deepseek_resilient.testing import FakeProvider

    estimates: list[int] = []
    real = ChatRequest.estimate_tokens

    def counted(self: ChatRequest) -> int:
        estimates.append(real(self))
        return estimates[-1]

    monkeypatch.setattr(ChatRequest, "estimate_tokens", counted)
    rate = RateLimit(requests_per_second=1000, tokens_per_minute=tpm)
    seen: list[int] = []
    acquire = ProviderRateLimiter.acquire

    async def spy(self: ProviderRateLimiter, **kw: Any) -> Any:
        seen.append(kw["tokens"])
        return await acquire(self, **kw)

    monkeypatch.setattr(ProviderRateLimiter, "acquire", spy)
    async with AsyncClient([FakeProvider("p")], rate_limit=rate) as client:
        await client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
    if tpm is None:
        assert seen == [0]
    else:
        assert seen and seen[0] > 0 and seen[0] in estimates
