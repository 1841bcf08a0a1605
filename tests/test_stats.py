"""client.stats(): counts, error rates, sliding-window percentiles (fake clock), TTFT,
breaker states, retries, failovers, cache and tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _support import FAST_RETRY, USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    Cache,
    CircuitBreaker,
    Client,
    ConfigurationError,
    IncompleteStreamError,
    InternalServerError,
    InvalidRequestError,
    Retry,
)
from deepseek_resilient._client.stats import LatencyWindow
from deepseek_resilient.testing import CutStream, FakeClock, FakeProvider, FaultServer, Ok, Status

pytestmark = pytest.mark.anyio


class Timed(FakeProvider):
    """Takes the scripted number of seconds (on the fake clock) per call."""

    def __init__(self, name: str, clock: FakeClock, latencies: list[float], **kw: Any) -> None:
        super().__init__(name, **kw)
        self.clock = clock
        self.latencies = list(latencies)

    async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
        self.clock.advance(self.latencies.pop(0))
        return await super().complete(request, idle_timeout=idle_timeout)

    async def stream(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
        self.clock.advance(self.latencies.pop(0))
        async for chunk in super().stream(request, idle_timeout=idle_timeout):
            yield chunk


async def test_percentiles_match_known_latencies_and_age_out() -> None:
    clock = FakeClock()
    latencies = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms, shuffled below
    order = latencies[::2] + latencies[1::2]
    async with AsyncClient([Timed("p", clock, order)], clock=clock) as client:
        for _ in order:
            await client.chat.completions.create(messages=USER)
        stats = client.stats()
        p = stats.providers["p"]
        expected = pytest.approx((0.05, 0.095, 0.099))
        assert (p.latency_p50, p.latency_p95, p.latency_p99) == expected
        assert (stats.latency_p50, stats.latency_p95, stats.latency_p99) == expected
        assert p.attempts == p.successes == p.answered == 100 and p.error_rate == 0.0
        assert stats.requests == stats.successes == 100 and stats.ttft_p50 is None
        clock.advance(stats.window + 1)  # every sample leaves the window; counters stay
        later = client.stats()
        assert later.latency_p99 is None and later.providers["p"].latency_p50 is None
        assert later.requests == 100


def test_latency_window_keeps_a_fixed_number_of_samples() -> None:
    window = LatencyWindow(size=8, window=100.0)
    for i in range(1000):
        window.add(0.0, float(i))
    assert window.recent(0.0) == [float(i) for i in range(992, 1000)]
    assert len(window._values) == 8
    assert window.percentiles(0.0) == [995.0, 999.0, 999.0]
    assert window.percentiles(200.0) == [None, None, None]


async def test_errors_retries_failovers_breaker_tokens(llm_server: FaultServer) -> None:
    llm_server.script(Status(503), Ok("a b"))  # request 1: one retry, then primary answers
    llm_server.default = Status(500)  # later: primary fails, the backup answers
    clock = FakeClock()
    backup = FakeProvider("backup")
    async with AsyncClient(
        [http_provider(llm_server.base_url), backup],
        retry=FAST_RETRY,
        breaker=CircuitBreaker(window=4, min_calls=4, failure_rate=0.5),
        clock=clock,
    ) as client:
        await client.chat.completions.create(messages=USER)
        for _ in range(3):
            resp = await client.chat.completions.create(messages=USER)
            assert resp.route is not None and resp.route.provider == "backup"
        stats = client.stats()
    primary = stats.providers["primary"]
    assert primary.breaker == "open" and stats.providers["backup"].breaker == "closed"
    # 503, retry, ok; 500, retry, 500 (3 of 4 failed: it trips); then 3 skips
    assert primary.failures == {"ServiceUnavailableError": 1, "InternalServerError": 2}
    assert primary.successes == 1 and primary.answered == 1 and primary.skipped == 3
    assert primary.attempts == 4 and primary.error_rate == 0.75
    assert primary.retries == 3 and stats.retries == 3
    assert primary.failovers == 3 and stats.failovers == 3
    assert stats.requests == 4 and stats.successes == 4 and stats.error_rate == 0.0
    assert stats.fallback_rate == 0.75
    assert (primary.tokens_in, primary.tokens_out) == (5, 2)
    assert stats.providers["backup"].tokens_in == 3 and stats.tokens_in == 8
    assert stats.tokens_out == 2 + 3 * 2  # "fake answer": two words each


async def test_give_ups_count_as_request_errors() -> None:
    failing = FakeProvider("p", default=InternalServerError("x", status_code=500))  # type: ignore[arg-type]
    async with AsyncClient([failing], retry=Retry(attempts=1), breaker=None) as client:
        for _ in range(3):
            with pytest.raises(AllProvidersFailed):
                await client.chat.completions.create(messages=USER)
        with pytest.raises(InvalidRequestError):  # refused before the pipeline: not counted
            await client.chat.completions.create(messages=[{"role": "user", "content": 1}])  # type: ignore[list-item]
    stats = client.stats()  # still readable after close
    assert stats.failures == {"AllProvidersFailed": 3} and stats.error_rate == 1.0
    assert stats.providers["p"].failures == {"InternalServerError": 3}
    assert stats.providers["p"].breaker == "off"


async def test_cache_ttft_and_deepseek_cache_hit_tokens(
    llm_server: FaultServer, tmp_path: Any
) -> None:
    clock = FakeClock()
    extra = {"usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
                       "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 2}}  # fmt: skip
    llm_server.script(Ok("x y", extra=extra))
    streamer = Timed("local", clock, [0.2, 0.4])
    async with AsyncClient(
        [http_provider(llm_server.base_url, retry=Retry(attempts=1)), streamer],
        cache=Cache(directory=tmp_path),
        clock=clock,
    ) as client:
        await client.chat.completions.create(messages=USER, temperature=0)
        await client.chat.completions.create(messages=USER, temperature=0)  # hit
        llm_server.default = Status(503)
        for _ in range(2):
            stream = await client.chat.completions.create(messages=USER, stream=True)
            await stream.until_done()
        stats = client.stats()
    assert (stats.cache_hits, stats.cache_misses, stats.cache_stale) == (1, 1, 0)
    assert stats.cache_hit_tokens == 8 and stats.providers["primary"].cache_hit_tokens == 8
    assert stats.tokens_in == 10 + 2 * 1  # the cache hit spent nothing
    local = stats.providers["local"]
    assert (local.ttft_p50, local.ttft_p99) == (pytest.approx(0.2), pytest.approx(0.4))
    assert stats.ttft_p50 == pytest.approx(0.2)


async def test_table_and_dict_carry_no_text() -> None:
    async with AsyncClient([FakeProvider("p")]) as client:
        await client.chat.completions.create(messages=[{"role": "user", "content": "SECRETWORD"}])
        stats = client.stats()
    table = stats.table()
    assert table.splitlines()[0].split()[:3] == ["reqs", "ok", "errors"]
    assert "p " in table and "(all)" in table and "SECRETWORD" not in table
    dumped = json.dumps(stats.to_dict())
    assert "SECRETWORD" not in dumped and json.loads(dumped)["providers"]["p"]["attempts"] == 1


def test_sync_client_stats_and_opt_out() -> None:
    with Client([FakeProvider("p")]) as client:
        client.chat.completions.create(messages=USER)
        assert client.stats().providers["p"].successes == 1
    with Client([FakeProvider("p")], stats=False) as client:
        with pytest.raises(ConfigurationError, match="stats=False"):
            client.stats()


async def test_a_stream_that_breaks_after_commit_counts_as_a_failure(
    llm_server: FaultServer,
) -> None:
    llm_server.script(Ok("a b c"), CutStream(after=1))
    async with AsyncClient([http_provider(llm_server.base_url)], clock=FakeClock()) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        await stream.until_done()
        broken = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError):
            await broken.until_done()
        stats = client.stats()
    p = stats.providers["primary"]
    # The cut stream was restarted: that attempt answered (a success for the provider), but
    # its answer diverged from the delivered text, so the caller gets the partial.
    assert (p.attempts, p.successes, p.failures) == (3, 2, {"APIConnectionError": 1})
    assert stats.failures == {"IncompleteStreamError": 1} and stats.successes == 1
