"""The breaker layer's own arithmetic, seen through a client: the latency it hands to the
breaker is the answer's time on the client's clock, from admission to the answer.

The server moves the client's fake clock while it serves a request, so "this call took 5 s"
is exact and no test waits."""

from __future__ import annotations

from typing import Any

import pytest

from deepseek_resilient import CircuitBreaker, CircuitOpenError, Retry
from deepseek_resilient.testing import CutStream, FakeClock, FaultServer, Ok, Step, testing_client

SLOW = CircuitBreaker(slow_call=2.0, min_calls=1, failure_rate=0.5, window=4, open_for=30.0)


def _taking(server: FaultServer, clock: FakeClock, seconds: list[float]) -> None:
    """The n-th request takes ``seconds[n]`` on ``clock``."""

    def rule(index: int, body: dict[str, Any] | None) -> Step:
        clock.advance(seconds[index])
        return Ok("done")

    server.rule = rule


def _ask(client: Any) -> str:
    answer = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
    return str(answer.choices[0].message.content)


def test_an_answer_slower_than_slow_call_on_the_clients_clock_opens_the_breaker(
    llm_server: FaultServer,
) -> None:
    clock = FakeClock()
    _taking(llm_server, clock, [5.0])
    with testing_client(llm_server, clock=clock, breaker=SLOW, retry=Retry(attempts=1)) as c:
        assert _ask(c) == "done"  # a slow answer is still the caller's answer
        health = c.health()["llm_server"]
    assert (health.state, health.trips) == ("open", 1)
    assert health.retry_in == 30.0  # opened when the answer came, on the same clock


def test_answers_within_slow_call_leave_the_breaker_closed(llm_server: FaultServer) -> None:
    clock = FakeClock()
    _taking(llm_server, clock, [1.0, 2.0, 0.0])  # exactly the limit is not slow
    with testing_client(llm_server, clock=clock, breaker=SLOW, retry=Retry(attempts=1)) as c:
        assert [_ask(c) for _ in range(3)] == ["done"] * 3
        health = c.health()["llm_server"]
    assert (health.state, health.calls_in_window, health.failure_rate) == ("closed", 3, 0.0)


def test_a_stream_cut_after_its_first_chunks_counts_against_the_breaker(
    llm_server: FaultServer,
) -> None:
    llm_server.script(CutStream(after=2), Ok("one two three four five six"))
    with testing_client(llm_server, breaker=CircuitBreaker(window=10, min_calls=10)) as c:
        stream = c.chat.completions.create(
            messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        health = c.health()["llm_server"]
    assert text == "one two three four five six" and llm_server.calls == 2  # resumed
    assert (health.calls_in_window, health.failure_rate) == (2, 0.5)  # the cut, the resumption


def test_a_breaker_opened_elsewhere_is_not_refused_before_its_period_is_known() -> None:
    from deepseek_resilient._core.config import CircuitBreaker as Config
    from deepseek_resilient._policies.breaker import ProviderBreaker

    b = ProviderBreaker("p", Config(open_for=10.0), FakeClock())
    b.circuit.open()  # by another process through shared storage: no period known here
    assert b.refusal() is None  # the cheap pre-check leaves it to admission
    with pytest.raises(CircuitOpenError) as refused:
        b.before_call()  # the period starts now
    assert refused.value.retry_in == 10.0
