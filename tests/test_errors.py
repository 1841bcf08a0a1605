"""Every status and transport failure maps to its typed error, against the real server."""

from __future__ import annotations

import email.utils
import time

import pytest
from _support import SECRET, USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    DeepSeek,
    DeepSeekResilientError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    Retry,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from deepseek_resilient._providers.http.errors import parse_retry_after
from deepseek_resilient.testing import (
    FaultServer,
    NotJson,
    Ok,
    Reset,
    Stall,
    Status,
    server_provider,
)

pytestmark = pytest.mark.anyio
ONE_TRY = Retry(attempts=1)


async def _error(server: FaultServer, **options: object) -> ProviderError:
    async with AsyncClient([http_provider(server.base_url, **options)], retry=ONE_TRY) as client:
        with pytest.raises((AllProvidersFailed, BadRequestError, UnprocessableEntityError)) as info:
            await client.chat.completions.create(messages=USER)
    exc = info.value
    if isinstance(exc, AllProvidersFailed):
        assert len(exc.errors) == 1
        return exc.errors[0]
    assert isinstance(exc, ProviderError)
    return exc


@pytest.mark.parametrize(
    ("code", "cls", "retryable", "failover"),
    [
        (400, BadRequestError, False, False),
        (401, AuthenticationError, False, True),
        (402, InsufficientBalanceError, False, True),
        (403, PermissionDeniedError, False, True),
        (404, NotFoundError, False, True),
        (409, APIStatusError, False, True),
        (422, UnprocessableEntityError, False, False),
        (429, RateLimitError, True, True),
        (500, InternalServerError, True, True),
        (502, InternalServerError, True, True),
        (503, ServiceUnavailableError, True, True),
    ],
)
async def test_status_mapping(
    llm_server: FaultServer, code: int, cls: type[ProviderError], retryable: bool, failover: bool
) -> None:
    llm_server.script(Status(code, message="boom"))
    exc = await _error(llm_server)
    assert type(exc) is cls
    assert isinstance(exc, APIStatusError) and exc.status_code == code
    assert exc.retryable is retryable and exc.failover is failover
    assert exc.provider == "primary" and "boom" in str(exc)
    assert exc.route is None or SECRET not in exc.route.model_dump_json()


async def test_error_body_that_is_not_json(llm_server: FaultServer) -> None:
    llm_server.script(Status(502, body="<html>Bad gateway</html>"))
    exc = await _error(llm_server)
    assert isinstance(exc, InternalServerError) and "Bad gateway" in str(exc)


async def test_ok_status_with_non_json_body(llm_server: FaultServer) -> None:
    llm_server.script(NotJson())
    exc = await _error(llm_server)
    assert isinstance(exc, InvalidResponseError) and exc.retryable


async def test_ok_status_with_json_that_is_not_a_completion(llm_server: FaultServer) -> None:
    body = '{"error": {"message": "busy"}}'
    llm_server.script(NotJson(body=body, content_type="application/json"))
    exc = await _error(llm_server)
    assert isinstance(exc, InvalidResponseError) and "busy" in str(exc)


async def test_connection_reset(llm_server: FaultServer) -> None:
    llm_server.script(Reset())
    exc = await _error(llm_server)
    assert type(exc) is APIConnectionError and exc.retryable


async def test_connection_refused() -> None:
    async with AsyncClient([http_provider("http://127.0.0.1:9/v1")], retry=ONE_TRY) as client:
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER)
    assert type(info.value.errors[0]) is APIConnectionError


async def test_idle_gap_is_the_read_timeout(llm_server: FaultServer) -> None:
    llm_server.script(Ok(delay=1.0))
    exc = await _error(llm_server, read_timeout=0.1)
    assert isinstance(exc, APITimeoutError)


async def test_leading_blank_lines_in_a_json_body_are_tolerated(llm_server: FaultServer) -> None:
    llm_server.script(Ok("after the keep-alives", keepalives=5))
    async with AsyncClient([http_provider(llm_server.base_url)]) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "after the keep-alives"


async def test_stall_then_answer_within_the_idle_gap(llm_server: FaultServer) -> None:
    llm_server.script(Stall(seconds=0.3, interval=0.05, then=Ok("late")))
    async with AsyncClient([http_provider(llm_server.base_url, read_timeout=0.2)]) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "late"


async def test_api_key_is_sent_but_never_shown(llm_server: FaultServer) -> None:
    llm_server.script(Status(401))
    provider = http_provider(llm_server.base_url)
    exc = await _error(llm_server)
    assert SECRET not in repr(provider) and SECRET not in str(exc) and SECRET not in repr(exc)
    assert llm_server.requests[0].headers["authorization"] == "<redacted>"


def test_deepseek_without_a_key_warns_once_and_is_skipped_at_request_time(
    monkeypatch: pytest.MonkeyPatch, llm_server: FaultServer
) -> None:
    from deepseek_resilient import AllProvidersFailed, Client, MissingAPIKeyWarning

    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.warns(MissingAPIKeyWarning, match="DEEPSEEK_API_KEY") as caught:
        keyless = DeepSeek(base_url=llm_server.base_url)
    assert len(caught) == 1
    backup = server_provider(llm_server, "backup")
    with Client([keyless, backup], timeout=10) as client:
        resp = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
        assert resp.route is not None and resp.route.provider == "backup"
        (skip, _ok) = resp.route.attempts
        assert (skip.provider, skip.outcome, skip.note) == (
            "deepseek",
            "skipped",
            "DEEPSEEK_API_KEY is not set",
        )
        assert "deepseek skipped: DEEPSEEK_API_KEY is not set" in resp.route.summary()
    # It never reached the wire: the only request the server saw is the backup's.
    assert len(llm_server.requests) == 1
    with pytest.warns(MissingAPIKeyWarning):
        lone = DeepSeek(base_url=llm_server.base_url)
    with Client([lone], timeout=10) as alone:
        with pytest.raises(AllProvidersFailed, match="DEEPSEEK_API_KEY is not set"):
            alone.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-env")
    ds = DeepSeek()
    assert ds.base_url == "https://api.deepseek.com" and ds.model == "deepseek-flash"
    assert ds.unavailable() is None
    assert "sk-env" not in repr(ds)


def test_every_error_is_ours() -> None:
    for cls in (AllProvidersFailed, APIConnectionError, RateLimitError):
        assert issubclass(cls, DeepSeekResilientError)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "nonsense", "retry-after": "3"}, 3.0),
        ({"retry-after": "-4"}, None),  # a negative hint is ignored (issue 12)
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    got = parse_retry_after({"retry-after": date}, now=now)
    assert got is not None and 28 <= got <= 31
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


async def test_retry_after_reaches_the_error(llm_server: FaultServer) -> None:
    llm_server.script(Status(429, retry_after_ms=1500))
    exc = await _error(llm_server)
    assert isinstance(exc, RateLimitError) and exc.retry_after == 1.5
