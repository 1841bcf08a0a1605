"""When every provider failed the same way, the error raised is also that error's class:
``except RateLimitError`` catches "everything was rate-limited", a single endpoint's 401 is an
``AuthenticationError``, and ``except AllProvidersFailed`` still catches them all."""

from __future__ import annotations

import pickle

import pytest
from _support import USER

from deepseek_resilient import (
    AllProvidersFailed,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
)
from deepseek_resilient.testing import (
    FakeProvider,
    FaultServer,
    Reset,
    Status,
    testing_async_client,
    testing_client,
)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
    ],
)
def test_a_single_endpoints_status_is_caught_by_its_class(
    llm_server: FaultServer, code: int, kind: type[APIStatusError]
) -> None:
    llm_server.default = Status(code, message="nope")
    with testing_client(llm_server) as client, pytest.raises(kind) as info:
        client.chat.completions.create(messages=USER)
    exc = info.value
    assert isinstance(exc, AllProvidersFailed)  # the old except clauses still work
    assert isinstance(exc, AllProvidersFailed.of(kind))
    assert exc.status_code == code and exc.provider == "llm_server"
    assert exc.body  # the server's error body
    assert [type(e) for e in exc.errors] == [kind]
    assert str(exc).startswith(f"all providers failed, each with {kind.__name__}: ")
    assert exc.route is not None and exc.route.attempts
    assert type(exc).__name__ == "AllProvidersFailed"  # the name logs and metrics show


def test_all_rate_limited_reports_the_shortest_wait() -> None:
    with FaultServer() as first, FaultServer() as second:
        first.default = Status(429, retry_after=40)  # past max_retry_after: no wait, fail over
        second.default = Status(429, retry_after=35)
        with testing_client(first, second) as client, pytest.raises(RateLimitError) as info:
            client.chat.completions.create(messages=USER)
    exc = info.value
    assert exc.retry_after == 35 and exc.provider == "llm_server_2"
    assert [e.retry_after for e in exc.errors] == [40, 35]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_different_failures_stay_a_plain_all_providers_failed() -> None:
    with FaultServer() as first, FaultServer() as second:
        first.default = Status(429)
        second.default = Status(500)
        async with testing_async_client(first, second) as client:
            with pytest.raises(AllProvidersFailed) as info:
                await client.chat.completions.create(messages=USER)
    assert type(info.value) is AllProvidersFailed
    assert not isinstance(info.value, (RateLimitError, APIStatusError))
    assert "each with" not in str(info.value)


@pytest.mark.anyio
async def test_the_most_specific_shared_class_is_used() -> None:
    with FaultServer() as first, FaultServer() as second:
        first.default = Status(500)
        second.default = Status(503)
        async with testing_async_client(first, second) as client:
            with pytest.raises(InternalServerError) as info:
                await client.chat.completions.create(messages=USER)
    assert not isinstance(info.value, ServiceUnavailableError)
    assert info.value.status_code == 500  # from the first provider (no wait was asked)


def test_connection_failures_everywhere_are_an_api_connection_error() -> None:
    with FaultServer() as first, FaultServer() as second:
        first.default = second.default = Reset()
        with testing_client(first, second) as client, pytest.raises(APIConnectionError) as info:
            client.chat.completions.create(messages=USER, stream=True)
    assert isinstance(info.value, AllProvidersFailed) and len(info.value.errors) == 2


def test_all_breakers_open_is_a_circuit_open_error() -> None:
    error = CircuitOpenError("open", provider="a", retry_in=12.0)
    with testing_client(FakeProvider("a", default=error)) as client:
        with pytest.raises(CircuitOpenError) as info:
            client.chat.completions.create(messages=USER)
    assert info.value.retry_in == 12.0


def test_the_callers_own_bad_request_is_raised_as_is(llm_server: FaultServer) -> None:
    llm_server.default = Status(400, message="bad")
    with testing_client(llm_server) as client, pytest.raises(BadRequestError) as info:
        client.chat.completions.create(messages=USER)
    assert not isinstance(info.value, AllProvidersFailed)  # not failed over: no chain at all


def test_the_combined_error_pickles_and_copies() -> None:
    from deepseek_resilient._core.errors import all_failed

    errors = [RateLimitError("slow", provider="a", status_code=429, retry_after=2.0)]
    exc = all_failed(errors)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and isinstance(back, RateLimitError)
    assert back.retry_after == 2.0 and str(back) == str(exc)
    plain = all_failed([])
    assert type(pickle.loads(pickle.dumps(plain))) is AllProvidersFailed
    assert AllProvidersFailed.of(RateLimitError) is AllProvidersFailed.of(RateLimitError)
    with pytest.raises(TypeError):
        AllProvidersFailed.of(ValueError)  # type: ignore[arg-type]


def test_every_error_of_ours_pickles_with_its_fields() -> None:
    error = RateLimitError("slow", provider="a", status_code=429, retry_after=2.0)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is RateLimitError and back.status_code == 429 and str(back) == str(error)
