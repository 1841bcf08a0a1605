"""Failover order, what fails over and what doesn't, and the route of every answer."""

from __future__ import annotations

import logging

import pytest
from _support import FAST_RETRY, USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InsufficientBalanceError,
    ProviderError,
    UnprocessableEntityError,
)
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, Reset, Status

pytestmark = pytest.mark.anyio


async def test_failover_in_priority_order(llm_server: FaultServer) -> None:
    first = FakeProvider("first", default=InsufficientBalanceError("no money", status_code=402))
    second = http_provider(llm_server.base_url, name="second")
    third = FakeProvider("third")
    llm_server.script(Status(503), Status(503), Reset())
    async with AsyncClient([first, second, third], retry=FAST_RETRY) as c:
        resp = await c.chat.completions.create(messages=USER)
    route = resp.route
    assert route is not None and route.provider == "third"
    assert [(a.provider, a.outcome, a.error) for a in route.attempts] == [
        ("first", "error", "InsufficientBalanceError"),
        ("second", "error", "ServiceUnavailableError"),
        ("second", "error", "ServiceUnavailableError"),
        ("second", "error", "APIConnectionError"),
        ("third", "ok", None),
    ]
    assert first.calls == 1 and llm_server.calls == 3 and third.calls == 1
    assert route.elapsed > 0 and all(a.latency >= 0 for a in route.attempts)
    assert "answered by third" in route.summary()


async def test_all_failed_carries_each_providers_error() -> None:
    a = FakeProvider("a", default=AuthenticationError("bad key", status_code=401))
    b = FakeProvider("b", default=ProviderError("weird"))
    async with AsyncClient([a, b], clock=FakeClock()) as c:
        with pytest.raises(AllProvidersFailed) as info:
            await c.chat.completions.create(messages=USER)
    errors = info.value.errors
    assert [type(e) for e in errors] == [AuthenticationError, ProviderError]
    assert [e.provider for e in errors] == ["a", "b"]
    assert "AuthenticationError" in str(info.value)


@pytest.mark.parametrize("error", [BadRequestError, UnprocessableEntityError])
async def test_the_callers_own_bad_request_does_not_fail_over(error: type[ProviderError]) -> None:
    a = FakeProvider("a", [error("bad", status_code=400)])  # type: ignore[call-arg]
    b = FakeProvider("b")
    async with AsyncClient([a, b], clock=FakeClock()) as c:
        with pytest.raises(error) as info:
            await c.chat.completions.create(messages=USER)
    assert b.calls == 0 and info.value.route is not None and len(info.value.route.attempts) == 1


async def test_a_buggy_custom_provider_raises_a_typed_error() -> None:
    class Broken(FakeProvider):
        async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
            raise KeyError("oops")

    async with AsyncClient([Broken("broken"), FakeProvider("ok")]) as c:
        resp = await c.chat.completions.create(messages=USER)
    assert resp.route is not None and resp.route.provider == "ok"
    assert resp.route.attempts[0].error == "ProviderError"


def test_client_config_errors() -> None:
    with pytest.raises(ConfigurationError, match="unique"):
        AsyncClient([FakeProvider("x"), FakeProvider("x")])
    with pytest.raises(ConfigurationError):
        AsyncClient([])
    with pytest.raises(ConfigurationError):
        AsyncClient([FakeProvider()], timeout=0)
    with pytest.raises(ConfigurationError):
        AsyncClient(["not a provider"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        http_provider("ftp://example")


def test_no_provider_from_the_environment_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    with pytest.raises(ConfigurationError, match="DEEPSEEK_API_KEY"):
        AsyncClient()


def test_pipeline_order_is_printable() -> None:
    c = AsyncClient([FakeProvider()])
    order = c.pipeline
    print(" -> ".join(order))
    assert order[0] == "validate" and order.index("deadline") < order.index("router")
    assert order[-1] == "provider:timed_send"


class _Buggy(FakeProvider):
    """A custom provider with a programming error."""

    async def complete(self, request: object, *, idle_timeout: float) -> object:  # type: ignore[override]
        self.requests.append(request)  # type: ignore[arg-type]
        return {"choices": []}["usage"]  # KeyError: a bug, not a provider answer


@pytest.mark.anyio
async def test_a_providers_programming_error_is_logged_once_and_counted_as_its_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ``KeyError`` in a provider: the next provider answers, the error is the buggy
    provider's failure (route, breaker), and its traceback is logged once, not per request."""
    caplog.set_level(logging.DEBUG, logger="deepseek_resilient")
    buggy = _Buggy("buggy-provider")
    async with AsyncClient([buggy, FakeProvider("spare")], clock=FakeClock()) as client:
        for _ in range(3):
            resp = await client.chat.completions.create(messages=USER)
            assert resp.choices[0].message.content and resp.route is not None
            assert [(a.provider, a.error) for a in resp.route.attempts] == [
                ("buggy-provider", "ProviderError"),
                ("spare", None),
            ]
        health = client.health()["buggy-provider"]
        assert health.calls_in_window == 3 and health.failure_rate == 1.0
    bugs = [r for r in caplog.records if "a bug in the provider" in r.getMessage()]
    assert len(bugs) == 1 and bugs[0].levelno == logging.ERROR
    message = bugs[0].getMessage()
    assert "buggy-provider" in message and "KeyError" in message
    assert "Traceback (most recent call last)" in message and "in complete" in message
