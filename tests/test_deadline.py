"""One total deadline per request, over attempts, sleeps and fallbacks."""

from __future__ import annotations

import time

import pytest
from _support import USER, http_provider

from deepseek_resilient import AllProvidersFailed, AsyncClient, DeadlineExceeded, Retry
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, Hang, Stall, Status

pytestmark = pytest.mark.anyio


async def test_stalling_primary_is_abandoned_and_the_fallback_answers(
    llm_server: FaultServer,
) -> None:
    """DeepSeek when busy sends a blank line every few seconds for minutes: the idle timeout
    never trips, so only the deadline's share for the primary bounds it."""
    llm_server.default = Stall(seconds=30, interval=0.05)
    primary = http_provider(llm_server.base_url, read_timeout=10)
    fallback = FakeProvider("fallback")
    async with AsyncClient([primary, fallback], timeout=1.0) as client:
        resp = await client.chat.completions.create(messages=USER)
    # An answer at all proves the primary was cut before the 1 s deadline; cancel scopes never
    # fire early, so its attempt lasted at least its 75 % share (no upper wall-clock bound:
    # a busy machine may be late by any amount).
    assert resp.route is not None and resp.route.provider == "fallback"
    assert resp.route.attempts[0].error == "APITimeoutError"
    assert resp.route.attempts[0].latency >= 0.7
    assert llm_server.calls == 1


async def test_deadline_exceeded_when_nothing_answers(llm_server: FaultServer) -> None:
    llm_server.default = Stall(seconds=30, interval=0.05)
    started = time.monotonic()
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=0.4) as client:
        with pytest.raises(DeadlineExceeded) as info:
            await client.chat.completions.create(messages=USER)
    assert 0.35 < time.monotonic() - started < 10  # the deadline, not the 30 s stall
    assert isinstance(info.value, TimeoutError)
    assert info.value.route is not None and info.value.route.attempts[0].outcome == "cancelled"


async def test_per_call_timeout_overrides_the_client_deadline() -> None:
    async with AsyncClient([FakeProvider("p", [Hang()])], timeout=60) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"0\.2 s"):
            await client.chat.completions.create(messages=USER, timeout=0.2)
    assert time.monotonic() - started < 30  # the call's 0.2 s, not the client's 60 s


async def test_attempt_timeout_caps_each_attempt() -> None:
    slow = FakeProvider("slow", [Hang(), Hang()], attempt_timeout=0.05)
    async with AsyncClient([slow], retry=Retry(attempts=3, base=0), timeout=5) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert slow.calls == 3 and resp.route is not None
    assert [a.error for a in resp.route.attempts] == ["APITimeoutError", "APITimeoutError", None]


async def test_retry_sleep_never_outlasts_the_deadline(llm_server: FaultServer) -> None:
    llm_server.default = Status(503, retry_after=5)
    clock = FakeClock()
    retry = Retry(attempts=10, max_retry_after=60)
    provider = http_provider(llm_server.base_url)
    async with AsyncClient([provider], timeout=2, retry=retry, clock=clock) as c:
        with pytest.raises(AllProvidersFailed):
            await c.chat.completions.create(messages=USER)
    assert clock.sleeps == [] and llm_server.calls == 1  # gave up at once, never slept
