"""Hostile input (issue 12, items 1 and 7): a request that is not plain JSON is an
``InvalidRequestError`` before any layer, and no error raised while building a request ever
counts against a provider."""

from __future__ import annotations

import math
from typing import Any

import pytest
from _support import USER, http_provider
from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_resilient import (
    AsyncClient,
    Cache,
    CircuitBreaker,
    Client,
    InvalidRequestError,
    Retry,
)
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer, InstantClock, Ok

pytestmark = pytest.mark.anyio
BREAKER = CircuitBreaker(window=10, min_calls=5, failure_rate=0.5, open_for=30)


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


BAD_BYTES = [{"role": "user", "content": [{"type": "text", "text": b"img"}]}]


async def test_bytes_in_a_content_part_never_trip_a_breaker(llm_server: FaultServer) -> None:
    llm_server.default = Ok("fine")
    providers = [http_provider(llm_server.base_url, "a"), http_provider(llm_server.base_url, "b")]
    async with AsyncClient(providers, breaker=BREAKER, clock=InstantClock()) as client:
        for _ in range(5):
            with pytest.raises(InvalidRequestError, match=r"bytes.*not JSON"):
                await client.chat.completions.create(messages=BAD_BYTES)
        assert llm_server.calls == 0
        assert {name: h.state for name, h in client.health().items()} == {
            "a": "closed",
            "b": "closed",
        }
        resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "fine"
    assert llm_server.calls == 1


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"messages": BAD_BYTES}, "bytes"),
        ({"messages": [{"role": "user", "content": "lone \ud800 surrogate"}]}, "surrogate"),
        (
            {"messages": [*USER, {"role": "user", "content": "é \udc00"}]},
            r"messages\[1\]\.content holds a lone surrogate",
        ),
        ({"messages": USER, "model": "m\ud800"}, r"request\.model holds a lone surrogate"),
        ({"messages": USER, "user": "\udfff"}, r"request\.user holds a lone surrogate"),
        ({"messages": USER, "extra_body": {"x": {1, 2}}}, "set"),
        ({"messages": USER, "extra_body": {"x": object()}}, "object"),
        ({"messages": USER, "extra_body": {"x": math.nan}}, "nan"),
        ({"messages": USER, "extra_body": {"x": math.inf}}, "inf"),
        ({"messages": USER, "extra_body": {"x": _deep(100)}}, "deeper than 32"),
        ({"messages": USER, "extra_body": {1: "int key"}}, "key"),
        ({"messages": USER, "tools": [{"type": "function", "function": {"f": b"x"}}]}, "bytes"),
        ({"messages": USER, "tool_choice": {"x": {1}}}, "set"),
        ({"messages": USER, "response_format": {"type": _deep(40)}}, "deeper"),
        ({"messages": [{"role": "user", "content": "hi", "meta": b"x"}]}, "bytes"),
    ],
)
@pytest.mark.parametrize("temperature", [None, 0])  # 0: cacheable, so the cache key is built
async def test_unserialisable_input_is_an_invalid_request(
    llm_server: FaultServer, tmp_path: Any, params: dict[str, Any], match: str, temperature: Any
) -> None:
    cache = Cache(directory=tmp_path)
    async with AsyncClient(
        [http_provider(llm_server.base_url)], breaker=BREAKER, cache=cache, clock=InstantClock()
    ) as client:
        with pytest.raises(InvalidRequestError, match=match):
            await client.chat.completions.create(**params, temperature=temperature)
        with pytest.raises(InvalidRequestError, match=match):
            await client.chat.completions.create(**params, temperature=temperature, stream=True)
    assert llm_server.calls == 0


def test_sync_client_raises_the_same_typed_error(llm_server: FaultServer) -> None:
    with Client([http_provider(llm_server.base_url)], clock=InstantClock()) as client:
        with pytest.raises(InvalidRequestError):
            client.chat.completions.create(messages=USER, extra_body={"x": b"raw"}, seed=1)
    assert llm_server.calls == 0


def test_a_wrong_call_signature_is_a_type_error(llm_server: FaultServer) -> None:
    with Client([http_provider(llm_server.base_url)], clock=InstantClock()) as client:
        with pytest.raises(TypeError):
            client.chat.completions.create(USER)  # type: ignore[call-overload,misc]


async def test_an_error_while_building_a_request_is_neutral_for_the_breaker() -> None:
    """A provider that cannot build the request (its own serialisation fails) raises
    InvalidRequestError: it reaches the caller as is, and the breaker does not count it."""

    class CannotEncode(FakeProvider):
        async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
            self.requests.append(request)
            raise InvalidRequestError("cannot encode the request")

    primary = CannotEncode("primary")
    fallback = FakeProvider("fallback")
    async with AsyncClient(
        [primary, fallback], retry=Retry(attempts=3), breaker=BREAKER, clock=FakeClock()
    ) as client:
        for _ in range(10):
            with pytest.raises(InvalidRequestError):
                await client.chat.completions.create(messages=USER)
        health = client.health()["primary"]
    assert health.state == "closed" and health.failure_rate == 0.0
    assert primary.calls == 10  # not retried
    assert fallback.calls == 0  # the request is wrong everywhere: no fail over


async def test_coalesced_waiters_of_a_refused_request_each_get_the_typed_error() -> None:
    """A 400 shared by merged identical requests reaches every waiter as a BadRequestError
    (copying an error with keyword-only fields used to raise TypeError)."""
    import anyio

    from deepseek_resilient import BadRequestError

    gate = anyio.Event()

    class Refusing(FakeProvider):
        async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
            self.requests.append(request)
            await gate.wait()
            raise BadRequestError("HTTP 400: bad", status_code=400, provider=self.name)

    provider = Refusing("p")
    caught: list[BaseException] = []
    async with AsyncClient([provider], clock=FakeClock()) as client:

        async def one() -> None:
            try:
                await client.chat.completions.create(messages=USER, temperature=0)
            except BaseException as exc:
                caught.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
            await anyio.wait_all_tasks_blocked()
            gate.set()
    assert provider.calls == 1
    assert [type(e) for e in caught] == [BadRequestError] * 3
    assert all(getattr(e, "status_code", None) == 400 for e in caught)


@settings(max_examples=200, deadline=None)
@given(
    content=st.text(st.sampled_from(["a", "é", "\ud800", "\udfff", "\x00", "😀"]), max_size=6),
    user=st.none() | st.text(alphabet=st.sampled_from(["u", "\udc00"]), max_size=3),
    temperature=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
def test_a_text_only_request_is_refused_exactly_as_the_full_json_check_refuses(
    content: str, user: str | None, temperature: float | None
) -> None:
    """A request of text messages and scalar fields has only its strings checked (no dump of
    the whole request): the outcome must be what the full check gives."""
    from deepseek_resilient._client import create_args

    def outcome(full: bool) -> str:
        plain = create_args._plain_text_only
        if full:
            create_args._plain_text_only = lambda request: False  # type: ignore[assignment]
        try:
            params = {"user": user, "temperature": temperature}
            create_args.validate_request([{"role": "user", "content": content}], False, params)
            return "ok"
        except InvalidRequestError as exc:
            return str(exc)
        finally:
            create_args._plain_text_only = plain  # type: ignore[assignment]

    assert outcome(full=False) == outcome(full=True)
