"""One total deadline per request, over attempts, sleeps and fallbacks."""

from __future__ import annotations

import time

import pytest
from _support import USER, http_provider

from deepseek_resilient import AllProvidersFailed, AsyncClient, DeadlineExceeded, Retry
from deepseek_resilient.testing import FakeProvider, FaultServer, Hang, Stall, Status

pytestmark = pytest.mark.anyio


async def test_stalling_primary_is_abandoned_and_the_fallback_answers(
    llm_server: FaultServer,
) -> None:
    """DeepSeek when busy sends a blank line every few seconds for minutes: the idle timeout
    never trips, so only the deadline's share for the primary bounds it."""
    llm_server.default = Stall(seconds=30, interval=0.05)
    primary = http_provider(llm_server.base_url, read_timeout=10)
    fallback = FakeProvider("fallback")
    started = time.monotonic()
    async with AsyncClient([primary, fallback], timeout=1.0) as client:
        resp = await client.chat.completions.create(messages=USER)
    elapsed = time.monotonic() - started
    assert resp.route is not None and resp.route.provider == "fallback"
    assert resp.route.attempts[0].error == "APITimeoutError"
    assert elapsed < 0.95  # well inside the 1 s deadline: the primary got 75 % of it
    assert llm_server.calls == 1


async def test_deadline_exceeded_when_nothing_answers(llm_server: FaultServer) -> None:
    llm_server.default = Stall(seconds=30, interval=0.05)
    started = time.monotonic()
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=0.4) as client:
        with pytest.raises(DeadlineExceeded) as info:
            await client.chat.completions.create(messages=USER)
    assert 0.35 < time.monotonic() - started < 1.0
    assert isinstance(info.value, TimeoutError)
    assert info.value.route is not None and info.value.route.attempts[0].outcome == "cancelled"


async def test_per_call_timeout_overrides_the_client_deadline() -> None:
    async with AsyncClient([FakeProvider("p", [Hang()])], timeout=60) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"0\.2 s"):
            await client.chat.completions.create(messages=USER, timeout=0.2)
    assert time.monotonic() - started < 1.0


async def test_attempt_timeout_caps_each_attempt() -> None:
    slow = FakeProvider("slow", [Hang(), Hang()], attempt_timeout=0.05)
    async with AsyncClient([slow], retry=Retry(attempts=3, base=0), timeout=5) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert slow.calls == 3 and resp.route is not None
    assert [a.error for a in resp.route.attempts] == ["APITimeoutError", "APITimeoutError", None]


async def test_retry_sleep_never_outlasts_the_deadline(llm_server: FaultServer) -> None:
    llm_server.default = Status(503, retry_after=5)
    started = time.monotonic()
    retry = Retry(attempts=10, max_retry_after=60)
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=2, retry=retry) as c:
        with pytest.raises(AllProvidersFailed):
            await c.chat.completions.create(messages=USER)
    assert time.monotonic() - started < 1.0 and llm_server.calls == 1
