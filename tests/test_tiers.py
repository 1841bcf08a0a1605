"""Tiers: each strategy's picks, failover inside a tier, skipped members, load moving away
from a member that slows down, and how a tier shows in route, pipeline and stats.

Time is a ``FakeClock``: a ``Timed`` member moves it by its latency while it answers, so
latencies are exact and no test sleeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import anyio
import pytest

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    AuthenticationError,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Client,
    ConfigurationError,
    Hedge,
    RateLimit,
    Retry,
    ServiceUnavailableError,
    Tier,
)
from deepseek_resilient.testing import FakeClock, FakeProvider

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Hi"}]
ONCE = Retry(attempts=1)


class Timed(FakeProvider):
    """A member that takes ``latency`` seconds of the fake clock to answer (to its first
    token when streaming)."""

    def __init__(self, name: str, clock: FakeClock, latency: float, **kw: object) -> None:
        super().__init__(name, **kw)
        self.clock = clock
        self.latency = latency

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        self.clock.advance(self.latency)
        return await super().complete(request, idle_timeout=idle_timeout)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        self.clock.advance(self.latency)
        async for chunk in super().stream(request, idle_timeout=idle_timeout):
            yield chunk


def _client(*entries: object, clock: FakeClock | None = None, **kw: object) -> AsyncClient:
    return AsyncClient(
        list(entries),  # type: ignore[arg-type]
        clock=clock or FakeClock(),
        retry=ONCE,
        coalesce=False,
        **kw,  # type: ignore[arg-type]
    )


async def _answered_by(client: AsyncClient, n: int) -> list[str]:
    out = []
    for _ in range(n):
        r = await client.chat.completions.create(messages=USER)
        assert r.route.provider is not None
        out.append(r.route.provider)
    return out


# ---------------------------------------------------------------------------- strategies


async def test_weighted_is_smooth_weighted_round_robin() -> None:
    a, b, c = FakeProvider("a"), FakeProvider("b"), FakeProvider("c")
    async with _client(Tier([a, b, c], strategy="weighted", weights=[5, 3, 2])) as client:
        first = await _answered_by(client, 10)
        rest = await _answered_by(client, 90)
    # nginx's sequence for 5/3/2: interleaved, not a-a-a-a-a-b-b-b-c-c
    assert first == ["a", "b", "c", "a", "a", "b", "a", "c", "b", "a"]
    assert Counter(first + rest) == {"a": 50, "b": 30, "c": 20}


async def test_weighted_without_weights_is_even() -> None:
    members = [FakeProvider(n) for n in "abc"]
    async with _client(Tier(members, strategy="weighted")) as client:
        assert Counter(await _answered_by(client, 30)) == {"a": 10, "b": 10, "c": 10}


async def test_round_robin_takes_turns() -> None:
    members = [FakeProvider(n) for n in "abc"]
    async with _client(Tier(members, strategy="round_robin")) as client:
        assert await _answered_by(client, 7) == ["a", "b", "c", "a", "b", "c", "a"]


async def test_least_busy_sends_to_the_member_with_fewer_in_flight() -> None:
    # Streams held open are requests in flight: with two members, power of two choices
    # compares both every time, so open streams alternate between them.
    a, b = FakeProvider("a", default="x y z"), FakeProvider("b", default="x y z")
    async with _client(Tier([a, b], strategy="least_busy", seed=1)) as client:
        streams = [
            await client.chat.completions.create(messages=USER, stream=True) for _ in range(6)
        ]
        assert Counter(s.route.provider for s in streams) == {"a": 3, "b": 3}
        for s in streams[:3]:
            if s.route.provider == "a":
                await s.close()  # a's requests end: a is the less busy one now
        nxt = await client.chat.completions.create(messages=USER, stream=True)
        assert nxt.route.provider == "a"
        for s in [*streams, nxt]:
            await s.close()


async def test_least_busy_spreads_held_streams_over_three_members() -> None:
    members = [FakeProvider(n, default="x y") for n in "abc"]
    async with _client(Tier(members, strategy="least_busy", seed=7)) as client:
        streams = [
            await client.chat.completions.create(messages=USER, stream=True) for _ in range(30)
        ]
        counts = Counter(s.route.provider for s in streams)
        for s in streams:
            await s.close()
    assert max(counts.values()) - min(counts.values()) <= 2, counts


async def test_least_latency_prefers_the_fastest_member() -> None:
    clock = FakeClock()
    a, b, c = (Timed(n, clock, t) for n, t in (("a", 0.1), ("b", 0.2), ("c", 0.4)))
    async with _client(Tier([a, b, c], seed=3), clock=clock) as client:
        counts = Counter(await _answered_by(client, 300))
    assert counts["a"] > counts["b"] > counts["c"]
    assert counts["a"] >= 150 and counts["c"] <= 30, counts


async def test_least_latency_is_the_default_strategy() -> None:
    async with _client(Tier([FakeProvider("a"), FakeProvider("b")])) as client:
        assert "router:tier1(a|b: least_latency)" in client.pipeline


# ------------------------------------------------------------------ failures in a tier


async def test_a_failed_member_fails_over_to_another_member_of_the_tier() -> None:
    a = FakeProvider("a", [ServiceUnavailableError("busy", status_code=503)])
    b, later = FakeProvider("b"), FakeProvider("later")
    failovers: list[tuple[str, str]] = []

    class Hook:
        def on_failover(self, e: object) -> None:
            failovers.append((e.from_provider, e.to_provider))  # type: ignore[attr-defined]

    tier = Tier([a, b], strategy="round_robin", name="main")
    async with _client(tier, later, hooks=[Hook()]) as client:
        r = await client.chat.completions.create(messages=USER)
    assert (r.route.provider, r.route.tier) == ("b", "main")
    assert [(x.provider, x.outcome) for x in r.route.attempts] == [("a", "error"), ("b", "ok")]
    assert failovers == [("a", "b")]
    assert later.calls == 0  # the tier answered before the next one was needed


async def test_the_next_tier_answers_when_every_member_failed() -> None:
    down = [FakeProvider(n, default=ServiceUnavailableError("x", status_code=503)) for n in "ab"]
    backup = FakeProvider("backup")
    async with _client(Tier(down, name="main"), backup) as client:
        r = await client.chat.completions.create(messages=USER)
    assert r.route.provider == "backup" and r.route.tier is None
    assert sorted(x.provider for x in r.route.attempts[:2]) == ["a", "b"]


async def test_all_failed_carries_every_members_error() -> None:
    down = [FakeProvider(n, default=ServiceUnavailableError("x", status_code=503)) for n in "ab"]
    async with _client(Tier(down)) as client:
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER)
    assert len(info.value.errors) == 2


async def test_a_member_with_an_open_breaker_is_skipped() -> None:
    # A bad key opens a's breaker at once: later requests never reach a.
    a = FakeProvider("a", [AuthenticationError("bad key", status_code=401)])
    b = FakeProvider("b")
    async with _client(Tier([a, b], strategy="round_robin")) as client:
        first = await client.chat.completions.create(messages=USER)
        assert first.route.provider == "b" and a.calls == 1
        assert client.health()["a"].state == "open"
        assert await _answered_by(client, 6) == ["b"] * 6
    assert a.calls == 1


async def test_a_member_out_of_rate_limit_hands_over_at_once() -> None:
    # a is picked first every time (weight 100) but admits one request a second: the next
    # requests (at the same instant) go to b rather than wait a second for a's limit.
    clock = FakeClock()
    a = FakeProvider("a", rate_limit=RateLimit(requests_per_second=1, burst=1))
    b = FakeProvider("b")
    tier = Tier([a, b], strategy="weighted", weights=[100, 1])
    async with _client(tier, clock=clock) as client:
        assert await _answered_by(client, 4) == ["a", "b", "b", "b"]
    assert clock.sleeps == []  # nobody waited for a's limit


# ------------------------------------------------------------ load moves off a slow member


async def test_load_moves_away_from_a_member_that_slows_down() -> None:
    clock = FakeClock()
    a, b = Timed("a", clock, 0.1), Timed("b", clock, 0.1)
    async with _client(Tier([a, b], seed=5), clock=clock) as client:
        before = Counter(await _answered_by(client, 100))
        assert min(before.values()) >= 20  # equal members share the load
        a.latency = 3.0  # a slows down 30x
        slowed_at, calls_before = clock.now(), a.calls
        await _answered_by(client, 50)
        # a got at most the one request that revealed it: from then on b takes it all, so
        # the load moved within that request's 3 s
        assert a.calls - calls_before <= 1
        moved_within = clock.now() - slowed_at - 50 * 0.1
        assert moved_within <= 3.0 + 1e-6


async def test_a_slow_member_is_tried_again_after_it_recovers() -> None:
    clock = FakeClock()
    a, b = Timed("a", clock, 2.0), Timed("b", clock, 0.1)
    async with _client(Tier([a, b], seed=5), clock=clock) as client:
        await _answered_by(client, 20)
        a.latency = 0.1
        clock.advance(60.0)  # its old cost decays: a is probed again and its speed counts
        after = Counter(await _answered_by(client, 60))
    assert after["a"] >= 15, after


# ----------------------------------------------------------------- how a tier shows


async def test_route_pipeline_and_stats_show_tier_and_member() -> None:
    a, b, local = FakeProvider("a"), FakeProvider("b"), FakeProvider("local")
    tier = Tier([a, b], strategy="round_robin", name="deepseek")
    async with _client(tier, local, hedge=Hedge(after=2.0)) as client:
        r = await client.chat.completions.create(messages=USER)
        assert (r.route.tier, r.route.provider) == ("deepseek", "a")
        assert r.route.summary().startswith("answered by a (deepseek)")
        assert client.providers == (a, b, local)
        pipeline = client.pipeline
        assert pipeline[pipeline.index("router") + 1 :][:2] == [
            "router:deepseek(a|b: round_robin)",
            "router:hedge(after=2s, max_extra=0.05)",
        ]
        await client.chat.completions.create(messages=USER)
        stats = client.stats()
    assert stats.providers["a"].answered == 1 and stats.providers["b"].answered == 1


def test_the_sync_client_takes_tiers() -> None:
    members = [FakeProvider(n) for n in "ab"]
    with Client([Tier(members, strategy="round_robin")], retry=ONCE) as client:
        got = [client.chat.completions.create(messages=USER).route.provider for _ in range(4)]
    assert got == ["a", "b", "a", "b"]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Tier([]), "at least one"),
        (lambda: Tier(FakeProvider("a")), "list of providers"),  # type: ignore[arg-type]
        (lambda: Tier([FakeProvider("a"), "b"]), "must be providers"),  # type: ignore[list-item]
        (lambda: Tier([Tier([FakeProvider("a")])]), "cannot contain a Tier"),  # type: ignore[list-item]
        (lambda: Tier([FakeProvider("a")], strategy="fastest"), "strategy must be"),  # type: ignore[arg-type]
        (lambda: Tier([FakeProvider("a")], weights=[1]), "strategy='weighted' only"),
        (lambda: Tier([FakeProvider("a")], "weighted", [1, 2]), "2 weights for 1"),
        (lambda: Tier([FakeProvider("a")], "weighted", [0]), "positive"),
        (lambda: Tier([FakeProvider("a")], "weighted", [float("nan")]), "positive"),
        (lambda: Tier([FakeProvider("a")], hedge=0.5), "Hedge"),  # type: ignore[arg-type]
        (lambda: Tier([FakeProvider("a")], name=""), "name"),
        (lambda: Hedge(after="p100"), "percentile"),
        (lambda: Hedge(after="fast"), "percentile"),
        (lambda: Hedge(after=-1), ">= 0"),
        (lambda: Hedge(max_extra=0), "max_extra"),
        (lambda: Hedge(max_extra=2), "max_extra"),
        (lambda: AsyncClient([FakeProvider("a")], hedge="p95"), "Hedge"),  # type: ignore[arg-type]
        (lambda: AsyncClient([Tier([FakeProvider("a")]), FakeProvider("a")]), "unique"),
    ],
)
def test_bad_configuration_is_a_configuration_error(build: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        build()  # type: ignore[operator]


async def test_tier_with_anyio_backends(anyio_backend: str) -> None:
    members = [FakeProvider(n, default="one two") for n in "ab"]
    async with _client(Tier(members, strategy="round_robin")) as client:

        async def one() -> None:
            await client.chat.completions.create(messages=USER)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(one)
    assert [m.calls for m in members] == [2, 2]
