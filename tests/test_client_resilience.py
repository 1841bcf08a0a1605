"""Breaker, rate limiter, retry budget and priority wired into the client (issue 3)."""

from __future__ import annotations

import anyio
import pybreaker
import pytest
from _support import USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    CircuitBreaker,
    Client,
    RateLimit,
    RateLimitedLocally,
    Retry,
    ServiceUnavailableError,
)
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, Ok, Status

pytestmark = pytest.mark.anyio
BREAKER = CircuitBreaker(window=10, min_calls=5, failure_rate=0.5, open_for=30, max_open_for=120)


class Transitions(pybreaker.CircuitBreakerListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def state_change(self, cb: object, old: object, new: object) -> None:
        self.seen.append((getattr(old, "name", str(old)), getattr(new, "name", str(new))))


async def test_open_breaker_sends_zero_calls_then_one_probe(llm_server: FaultServer) -> None:
    llm_server.default = Status(503)
    clock = FakeClock()
    listener = Transitions()
    fallback = FakeProvider("fallback")
    with pytest.deprecated_call():  # breaker_listeners still works (use hooks= instead)
        client = AsyncClient(
            [http_provider(llm_server.base_url), fallback],
            retry=Retry(attempts=1),
            breaker=BREAKER,
            breaker_listeners=[listener],
            clock=clock,
        )
    async with client:
        for _ in range(5):  # 5 failures of 5 calls: trips at min_calls
            await client.chat.completions.create(messages=USER)
        assert llm_server.calls == 5 and client.health()["primary"].state == "open"
        for _ in range(50):
            resp = await client.chat.completions.create(messages=USER)
            assert resp.route is not None and resp.route.provider == "fallback"
            assert resp.route.attempts[0].outcome == "skipped"
            assert resp.route.attempts[0].error == "CircuitOpenError"
        assert llm_server.calls == 5  # zero calls while open
        health = client.health()["primary"]
        assert health.retry_in == pytest.approx(30) and health.trips == 1

        clock.advance(30)
        llm_server.default = Status(503)
        await client.chat.completions.create(messages=USER)  # the one probe fails...
        assert llm_server.calls == 6
        assert client.health()["primary"].retry_in == pytest.approx(60)  # ...open for longer
        clock.advance(60)
        llm_server.default = Ok("back")
        resp = await client.chat.completions.create(messages=USER)
        assert resp.route is not None and resp.route.provider == "primary"
        assert client.health()["primary"].state == "closed"
    assert ("closed", "open") in listener.seen and ("half-open", "closed") in listener.seen


async def test_one_probe_at_a_time_in_half_open() -> None:
    clock = FakeClock()
    gate = anyio.Event()

    class Slow(FakeProvider):
        async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
            if self.calls >= 5:
                await gate.wait()
            return await super().complete(request, idle_timeout=idle_timeout)

    primary = Slow("primary", [ServiceUnavailableError("x", status_code=503)] * 5)
    fallback = FakeProvider("fallback")
    async with AsyncClient(
        [primary, fallback], retry=Retry(attempts=1), breaker=BREAKER, clock=clock
    ) as client:
        for _ in range(5):
            await client.chat.completions.create(messages=USER)
        clock.advance(31)
        routes = []

        async def one() -> None:
            resp = await client.chat.completions.create(messages=USER)
            routes.append(resp.route.provider if resp.route else None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)  # becomes the probe and waits
            await anyio.wait_all_tasks_blocked()
            for _ in range(3):
                tg.start_soon(one)  # fail over at once
            await anyio.wait_all_tasks_blocked()
            assert routes == ["fallback"] * 3
            gate.set()
    assert sorted(routes) == ["fallback"] * 3 + ["primary"]
    assert primary.calls == 6


async def test_bad_request_and_cancellation_do_not_trip_the_breaker() -> None:
    from deepseek_resilient import BadRequestError
    from deepseek_resilient.testing import Hang

    steps = [BadRequestError("bad", status_code=400)] * 10 + [Hang()] * 10
    primary = FakeProvider("primary", steps)
    async with AsyncClient([primary], breaker=BREAKER, clock=FakeClock()) as client:
        for _ in range(10):
            with pytest.raises(BadRequestError):
                await client.chat.completions.create(messages=USER)
        for _ in range(10):
            with anyio.move_on_after(0.01):
                await client.chat.completions.create(messages=USER)
        assert client.health()["primary"].state == "closed"
        assert client.health()["primary"].failure_rate == 0.0


async def test_auth_error_opens_the_breaker_at_once() -> None:
    from deepseek_resilient import AuthenticationError

    primary = FakeProvider("primary", [AuthenticationError("bad key", status_code=401)])
    async with AsyncClient([primary, FakeProvider("b")], clock=FakeClock()) as client:
        await client.chat.completions.create(messages=USER)
        health = client.health()["primary"]
    assert health.state == "open" and health.retry_in == pytest.approx(3600)


def test_retry_budget_caps_amplification_in_a_failure_storm() -> None:
    failing = FakeProvider("failing", default=ServiceUnavailableError("busy", status_code=503))
    fallback = FakeProvider("fallback")
    clock = FakeClock()
    with Client(
        [failing, fallback], retry=Retry(attempts=5, base=0), breaker=None, clock=clock
    ) as client:
        for _ in range(1000):
            client.chat.completions.create(messages=USER)
    print(f"failing provider: {failing.calls} calls for 1000 requests")
    assert failing.calls <= 1.3 * 1000 and fallback.calls == 1000


def test_without_a_budget_every_attempt_is_made() -> None:
    failing = FakeProvider("failing", default=ServiceUnavailableError("busy", status_code=503))
    with Client(
        [failing, FakeProvider("fallback")],
        retry=Retry(attempts=5, base=0),
        breaker=None,
        retry_budget=None,
        clock=FakeClock(),
    ) as client:
        for _ in range(100):
            client.chat.completions.create(messages=USER)
    assert failing.calls == 500


async def test_rate_limit_spills_over_to_the_next_provider() -> None:
    clock = FakeClock()
    primary = FakeProvider("primary", rate_limit=RateLimit(requests_per_minute=2, burst=2))
    fallback = FakeProvider("fallback")
    async with AsyncClient([primary, fallback], timeout=5, clock=clock) as client:
        providers = []
        for _ in range(5):
            resp = await client.chat.completions.create(messages=USER)
            providers.append(resp.route.provider if resp.route else None)
    assert providers == ["primary", "primary", "fallback", "fallback", "fallback"]
    assert clock.sleeps == []  # spilled over at once instead of waiting 30 s


@pytest.mark.parametrize("limits", [None, RateLimit(requests_per_second=100)])
async def test_a_429_pauses_the_whole_provider(
    llm_server: FaultServer, limits: RateLimit | None
) -> None:
    clock = FakeClock()
    llm_server.script(Status(429, retry_after=20))
    primary = http_provider(llm_server.base_url, rate_limit=limits)
    async with AsyncClient([primary, FakeProvider("fallback")], timeout=10, clock=clock) as c:
        first = await c.chat.completions.create(messages=USER)
        second = await c.chat.completions.create(messages=USER)
        health = c.health()
    assert first.route is not None and first.route.provider == "fallback"
    assert second.route is not None and second.route.provider == "fallback"
    assert second.route.attempts[0].error == "RateLimitedLocally"
    assert llm_server.calls == 1  # the paused provider was not hammered
    # the 429 counts against the primary's breaker; our own refusal to send does not
    assert (health["primary"].calls_in_window, health["primary"].failure_rate) == (1, 1.0)


async def test_priority_high_is_admitted_first_and_low_is_shed() -> None:
    clock = FakeClock()
    gate = anyio.Event()
    order: list[str] = []

    class Gated(FakeProvider):
        async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
            await gate.wait()
            order.append(str(request.messages[0].content))
            return await super().complete(request, idle_timeout=idle_timeout)

    gated = Gated("p", rate_limit=RateLimit(max_concurrency=1))
    shed: list[BaseException] = []
    async with AsyncClient([gated], timeout=30, clock=clock) as client:

        async def one(text: str, priority: str) -> None:
            msgs = [{"role": "user", "content": text}]
            try:
                await client.chat.completions.create(messages=msgs, priority=priority)  # type: ignore[call-overload]
            except AllProvidersFailed as exc:
                shed.extend(exc.errors)

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "first", "normal")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(one, "low", "low")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(one, "normal", "normal")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(one, "high", "high")
            await anyio.wait_all_tasks_blocked()
            gate.set()
    assert order == ["first", "high", "normal"]
    assert [type(e) for e in shed] == [RateLimitedLocally]  # low: shed, not queued


def test_sync_health_and_pipeline_listing() -> None:
    with Client(
        [FakeProvider("a"), FakeProvider("b")], rate_limit=RateLimit(max_concurrency=4)
    ) as c:
        assert set(c.health()) == {"a", "b"} and c.health()["a"].state == "closed"
        print(" -> ".join(c.pipeline))
        assert c.pipeline.index("provider:breaker") < c.pipeline.index("provider:rate_limit")
