"""Hedged requests: a second request when the first is slow to start, the first to answer
wins, the loser is cancelled (its upstream connection closed), and the budget bounds them.

No test waits on a race against the wall clock: a slow first attempt is one that hangs, or
one that needs many more event-loop turns than the hedge (``Slow``), and time is a
``FakeClock``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest
from _support import http_provider

from deepseek_resilient import (
    AsyncClient,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Hedge,
    Retry,
    Tier,
)
from deepseek_resilient._balance.hedge import HedgeBudget
from deepseek_resilient.testing import (
    FakeClock,
    FakeProvider,
    FaultServer,
    Hang,
    Ok,
    SlowFirstToken,
)

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "Hi"}]
ONCE = Retry(attempts=1)
#: Weighted 1000/1: the first member is picked first for the first few hundred requests.
FIRST = {"strategy": "weighted", "weights": [1000, 1]}


class Slow(FakeProvider):
    """Answers after ``turns`` event-loop turns (far more than a hedge needs)."""

    def __init__(self, name: str, turns: int = 300, **kw: object) -> None:
        super().__init__(name, **kw)
        self.turns = turns
        self.slow = True

    async def _wait(self) -> None:
        if self.slow:
            for _ in range(self.turns):
                await anyio.lowlevel.checkpoint()

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        await self._wait()
        return await super().complete(request, idle_timeout=idle_timeout)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        await self._wait()
        async for chunk in super().stream(request, idle_timeout=idle_timeout):
            yield chunk


def _client(*entries: object, **kw: object) -> AsyncClient:
    kw.setdefault("clock", FakeClock())
    return AsyncClient(list(entries), retry=ONCE, coalesce=False, **kw)  # type: ignore[arg-type]


async def test_a_hedge_answers_when_the_first_member_is_slow_to_start() -> None:
    a, b = FakeProvider("a", [Hang()]), FakeProvider("b", default="from b")
    tier = Tier([a, b], hedge=Hedge(after=0.01, max_extra=1.0), **FIRST)  # type: ignore[arg-type]
    async with _client(tier) as client:
        r = await client.chat.completions.create(messages=USER)
    assert r.choices[0].message.content == "from b"
    assert (r.route.provider, r.route.hedged) == ("b", True)
    assert sorted((x.provider, x.outcome) for x in r.route.attempts) == [
        ("a", "cancelled"),
        ("b", "ok"),
    ]


async def test_no_hedge_when_the_first_answers_in_time() -> None:
    a, b = FakeProvider("a"), FakeProvider("b")
    tier = Tier([a, b], hedge=Hedge(after=30.0, max_extra=1.0), **FIRST)  # type: ignore[arg-type]
    async with _client(tier) as client:
        for _ in range(5):
            r = await client.chat.completions.create(messages=USER)
            assert (r.route.provider, r.route.hedged) == ("a", False)
    assert b.calls == 0


async def test_a_streamed_hedge_wins_and_the_stream_reads_to_its_end() -> None:
    a, b = FakeProvider("a", [Hang()]), FakeProvider("b", default="one two three")
    tier = Tier([a, b], hedge=Hedge(after=0.0, max_extra=1.0), **FIRST)  # type: ignore[arg-type]
    async with _client(tier) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "one two three" and stream.route.hedged and stream.route.provider == "b"


async def test_the_hedge_budget_allows_max_extra_times_requests() -> None:
    # Every first attempt is slow and hedging is immediate (after=0): only the budget
    # decides, so exactly one request in ten is hedged with max_extra=0.1.
    a, b = Slow("a"), FakeProvider("b")
    tier = Tier([a, b], hedge=Hedge(after=0.0, max_extra=0.1), **FIRST)  # type: ignore[arg-type]
    async with _client(tier) as client:
        hedged = []
        for _ in range(100):
            r = await client.chat.completions.create(messages=USER)
            hedged.append(r.route.hedged)
            assert r.route.provider == ("b" if r.route.hedged else "a")
    assert sum(hedged) == 10 and b.calls == 10  # 10 % of 100 requests, not more
    assert hedged[:9] == [False] * 9 and hedged[9]  # the tokens build up first


def test_the_budget_never_exceeds_max_extra_and_caps_bursts() -> None:
    budget = HedgeBudget(0.05)
    spent = 0
    for _ in range(1000):
        budget.on_request()
        spent += budget.try_spend()
    assert spent == 50
    idle = HedgeBudget(0.5)
    for _ in range(1000):
        idle.on_request()  # nothing slow for a long time: tokens saved up, but capped
    assert sum(idle.try_spend() for _ in range(100)) == 10


async def test_percentile_hedging_waits_for_enough_samples() -> None:
    # after="p95" needs 20 measured answers; with a fake clock every answer took 0 s, so
    # the 21st request hedges at once while the first 20 never do.
    a, b = Slow("a"), FakeProvider("b")
    a.slow = False
    tier = Tier([a, b], hedge=Hedge(after="p95", max_extra=1.0), **FIRST)  # type: ignore[arg-type]
    async with _client(tier) as client:
        for _ in range(20):
            assert not (await client.chat.completions.create(messages=USER)).route.hedged
        a.slow = True
        r = await client.chat.completions.create(messages=USER)
    assert r.route.hedged and r.route.provider == "b"


async def test_a_client_hedge_goes_to_the_next_tier() -> None:
    a, b = FakeProvider("a", [Hang()]), FakeProvider("b", default="backup")
    async with _client(a, b, hedge=Hedge(after=0.01, max_extra=1.0)) as client:
        r = await client.chat.completions.create(messages=USER)
    assert (r.route.provider, r.route.tier, r.route.hedged) == ("b", None, True)


async def test_a_first_attempt_failing_before_the_hedge_fails_over_as_usual() -> None:
    from deepseek_resilient import ServiceUnavailableError

    a = FakeProvider("a", [ServiceUnavailableError("busy", status_code=503)])
    b = FakeProvider("b")
    tier = Tier([a, b], hedge=Hedge(after=30.0, max_extra=1.0), **FIRST)  # type: ignore[arg-type]
    async with _client(tier) as client:
        r = await client.chat.completions.create(messages=USER)
    assert (r.route.provider, r.route.hedged) == ("b", False)
    assert [(x.provider, x.outcome) for x in r.route.attempts] == [("a", "error"), ("b", "ok")]


async def test_when_both_fail_the_hedged_member_is_not_tried_again() -> None:
    from deepseek_resilient import ServiceUnavailableError

    a = Slow("a", script=[ServiceUnavailableError("busy", status_code=503)])
    b = FakeProvider("b", [ServiceUnavailableError("busy", status_code=503)])
    c = FakeProvider("c")
    tier = Tier([a, b, c], "weighted", [1000, 1, 1], hedge=Hedge(after=0.0, max_extra=1.0))
    async with _client(tier) as client:
        r = await client.chat.completions.create(messages=USER)
    assert (r.route.provider, r.route.hedged) == ("c", True)
    assert (a.calls, b.calls, c.calls) == (1, 1, 1)
    assert sorted((x.provider, x.outcome) for x in r.route.attempts) == [
        ("a", "error"),
        ("b", "error"),
        ("c", "ok"),
    ]


async def test_the_losers_upstream_connection_is_closed() -> None:
    # Two real servers: a is slow to its first token (keep-alives every 20 ms), b answers.
    # The hedge to b wins; a's request is cancelled and the server sees its connection go.
    with FaultServer() as slow, FaultServer() as fast:
        slow.default = SlowFirstToken(seconds=30, interval=0.02)
        fast.default = Ok("from b")
        a = http_provider(slow.base_url, name="a", retry=ONCE)
        b = http_provider(fast.base_url, name="b", retry=ONCE)
        tier = Tier([a, b], hedge=Hedge(after=0.05, max_extra=1.0), **FIRST)  # type: ignore[arg-type]
        async with AsyncClient([tier], coalesce=False, timeout=20) as client:
            stream = await client.chat.completions.create(messages=USER, stream=True)
            async with stream:
                text = "".join([c.choices[0].delta.content or "" async for c in stream])
            assert text == "from b" and stream.route.hedged
            assert slow.calls == 1
            with anyio.fail_after(5):
                while slow._conns:  # noqa: ASYNC110 - a set owned by the server's threads
                    await anyio.sleep(0.02)
        outcomes = {x.provider: x.outcome for x in stream.route.attempts}
    assert outcomes == {"a": "cancelled", "b": "ok"}
