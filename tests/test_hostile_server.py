"""Hostile servers (issue 12, items 4, 5, 8 and 9): absurd Retry-After hints, decompression
bombs, huge bodies, events and error texts, deeply nested error bodies. Every one ends the
attempt with a typed error, in bounded time and memory, and pauses a provider for a bounded
time at most."""

from __future__ import annotations

import gzip
import json
import math
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import httpx2
import pytest
from _support import USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    InvalidResponseError,
    RateLimit,
    Retry,
    ServiceUnavailableError,
)
from deepseek_resilient._providers.http.body import MAX_RESPONSE_BYTES, decoded_pieces
from deepseek_resilient._providers.http.errors import parse_retry_after
from deepseek_resilient._streaming.sse import aiter_chunks
from deepseek_resilient.testing import (
    DeepJson,
    FakeClock,
    FakeProvider,
    FaultServer,
    GzipBomb,
    HugeBody,
    HugeError,
    HugeEvent,
    InstantClock,
    LongStream,
    Ok,
    Status,
)
from deepseek_resilient.testing._hostile import gzip_bomb

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024
ONE_TRY = Retry(attempts=1)


async def _only_error(client: AsyncClient, *, stream: bool = False) -> BaseException:
    with pytest.raises(AllProvidersFailed) as info:
        if stream:
            async with await client.chat.completions.create(messages=USER, stream=True) as s:
                async for _ in s:
                    pass
        else:
            await client.chat.completions.create(messages=USER)
    (error,) = info.value.errors
    return error


# ----------------------------------------------------------------------------- item 4


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "-1"}, None),
        ({"retry-after": "-1e9"}, None),
        ({"retry-after-ms": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": "-inf"}, None),
        ({"retry-after": "Thu, 99 Foo 99999 99:99:99 GMT"}, None),
        # too large for a float: excessive (fail over), never "no hint" (retry at once)
        ({"retry-after": "inf"}, math.inf),
        ({"retry-after": "1e999"}, math.inf),
        ({"retry-after-ms": "1e999"}, math.inf),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": " 2 "}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),  # a bad ms hint: the other
        ({"retry-after-ms": "-1", "retry-after": "3"}, 3.0),
        ({}, None),
        ({"retry-after": "1e9"}, 1e9),
    ],
)
def test_hints_negative_or_unparsable_are_ignored(
    headers: dict[str, str], expected: float | None
) -> None:
    assert parse_retry_after(headers) == expected


def test_an_http_date_hint_counts_from_now_and_never_below_zero() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # 1445412480
    assert parse_retry_after({"retry-after": date}, now=1445412480 - 7) == 7.0
    assert parse_retry_after({"retry-after": date}, now=1445412480 + 7) == 0.0  # past: now
    assert parse_retry_after({"retry-after": date}) == 0.0  # the real clock: long past


@pytest.mark.parametrize(
    "hint",
    [
        {"retry_after": "1e9"},
        {"retry_after": "Fri, 01 Jan 2999 00:00:00 GMT"},
        {"retry_after_ms": 1e15},
    ],
)
async def test_an_absurd_retry_after_pauses_a_provider_for_the_cap_at_most(
    llm_server: FaultServer, hint: dict[str, object]
) -> None:
    clock = FakeClock()
    llm_server.script(Status(429, **hint))  # type: ignore[arg-type]
    llm_server.default = Ok("primary again")
    fallback = FakeProvider("fallback")
    async with AsyncClient(
        [http_provider(llm_server.base_url), fallback], timeout=10, clock=clock
    ) as client:
        first = await client.chat.completions.create(messages=USER)
        assert first.route is not None and first.route.provider == "fallback"  # no 1e9 s sleep
        assert llm_server.calls == 1
        # 20 s of pause left, more than this request's 10 s: primary is skipped at once
        clock.advance(RateLimit().max_pause - 20)
        still = await client.chat.completions.create(messages=USER)
        assert still.route is not None and still.route.provider == "fallback"  # paused...
        assert llm_server.calls == 1
        clock.advance(21)  # ...but never past the cap
        back = await client.chat.completions.create(messages=USER)
    assert back.route is not None and back.route.provider == "primary"
    assert back.choices[0].message.content == "primary again"


async def test_the_pause_cap_is_configurable(llm_server: FaultServer) -> None:
    clock = FakeClock()
    llm_server.script(Status(429, retry_after="1e9"))
    async with AsyncClient(
        [http_provider(llm_server.base_url), FakeProvider("fallback")],
        timeout=10,
        rate_limit=RateLimit(max_pause=5),
        clock=clock,
    ) as client:
        await client.chat.completions.create(messages=USER)
        clock.advance(5.01)
        resp = await client.chat.completions.create(messages=USER)
    assert resp.route is not None and resp.route.provider == "primary"


# ----------------------------------------------------------------------------- item 5


@pytest.mark.parametrize(
    "step", [GzipBomb(decoded=256 * MIB), HugeBody(size=50 * 1000 * 1000)], ids=["bomb", "50MB"]
)
async def test_oversized_bodies_end_the_attempt_in_bounded_memory(
    llm_server: FaultServer, step: GzipBomb | HugeBody
) -> None:
    gzip_bomb(256 * MIB)  # built before measuring: the server's own memory is not the point
    llm_server.default = step
    async with AsyncClient([http_provider(llm_server.base_url)], retry=ONE_TRY) as client:
        tracemalloc.start()
        try:
            error = await _only_error(client)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(error, InvalidResponseError)
    assert "max_response_bytes" in str(error)
    # The 8 MiB kept so far plus one decoded piece, never the 256 MiB / 50 MB body.
    assert peak < MAX_RESPONSE_BYTES + 16 * MIB, f"peak {peak / MIB:.0f} MiB"


async def test_max_response_bytes_is_configurable(llm_server: FaultServer) -> None:
    llm_server.default = Ok("x" * 5000)
    small = http_provider(llm_server.base_url, max_response_bytes=4096)
    async with AsyncClient([small], retry=ONE_TRY) as client:
        error = await _only_error(client)
    assert isinstance(error, InvalidResponseError)
    async with AsyncClient([http_provider(llm_server.base_url)], retry=ONE_TRY) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "x" * 5000


async def test_a_huge_stream_event_ends_the_attempt(llm_server: FaultServer) -> None:
    llm_server.default = HugeEvent(size=50 * 1000 * 1000)
    async with AsyncClient([http_provider(llm_server.base_url)], retry=ONE_TRY) as client:
        error = await _only_error(client, stream=True)
    assert isinstance(error, InvalidResponseError) and "longer than" in str(error)
    llm_server.default = HugeEvent(size=5000)
    small = http_provider(llm_server.base_url, max_event_bytes=4096)
    async with AsyncClient([small], retry=ONE_TRY) as client:
        error = await _only_error(client, stream=True)
    assert isinstance(error, InvalidResponseError)


async def test_many_short_data_lines_in_one_event_are_capped_too() -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b"data: " + b"y" * 200 + b"\n"  # never a blank line: the event never ends

    with pytest.raises(InvalidResponseError):
        async for _ in aiter_chunks(body(), provider="p", max_event_chars=1024 * 1024):
            pass


async def test_a_long_stream_is_delivered_whole(llm_server: FaultServer) -> None:
    llm_server.default = LongStream(chunks=3000, text="ab")
    async with AsyncClient([http_provider(llm_server.base_url)], retry=ONE_TRY) as client:
        parts = []
        async with await client.chat.completions.create(messages=USER, stream=True) as stream:
            async for chunk in stream:
                parts += [c.delta.content or "" for c in chunk.choices]
        resp = await client.chat.completions.create(messages=USER)
    assert "".join(parts) == "ab" * 3000
    assert resp.choices[0].message.content == "ab" * 3000


def _completion(content: str = "ok") -> bytes:
    body = {"id": "x", "choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
    return json.dumps(body).encode()


def _deflate(data: bytes, wbits: int) -> bytes:
    out = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return out.compress(data) + out.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(_completion("zipped"))),
        ("deflate", _deflate(_completion("zipped"), zlib.MAX_WBITS)),
        ("deflate", _deflate(_completion("zipped"), -zlib.MAX_WBITS)),
    ],
    ids=["gzip", "zlib", "raw-deflate"],
)
async def test_compressed_answers_still_decode(encoding: str, body: bytes) -> None:
    headers = {"content-encoding": encoding}
    response = httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(body))
    pieces = [piece async for piece in decoded_pieces(response, "p")]
    assert b"".join(pieces) == _completion("zipped")


async def test_the_bomb_is_inflated_one_bounded_piece_at_a_time() -> None:
    headers = {"content-encoding": "gzip"}
    response = httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(gzip_bomb(MIB * 64)))
    sizes = [len(piece) async for piece in decoded_pieces(response, "p")]
    assert sum(sizes) == 64 * MIB + len(b'{"id": "bomb", "pad": "')
    assert max(sizes) <= 64 * 1024


async def test_a_corrupt_gzip_body_is_an_invalid_response() -> None:
    headers = {"content-encoding": "gzip"}
    response = httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(b"not gzip"))
    with pytest.raises(InvalidResponseError, match="not valid gzip"):
        async for _ in decoded_pieces(response, "p"):
            pass


# ----------------------------------------------------------------------------- items 8 and 9


async def test_a_huge_error_text_is_truncated(llm_server: FaultServer) -> None:
    llm_server.default = HugeError(code=503, size=10 * 1000 * 1000)
    async with AsyncClient([http_provider(llm_server.base_url)], retry=ONE_TRY) as client:
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER)
    error = info.value.errors[0]
    assert isinstance(error, ServiceUnavailableError) and error.status_code == 503
    assert len(str(error)) < 2200 and "characters cut]" in str(error)
    assert len(str(info.value)) < 2500 and len(repr(error)) < 2500
    assert len(repr(error.body)) < 2500


async def test_a_deeply_nested_503_is_mapped_by_status_and_retried(
    llm_server: FaultServer,
) -> None:
    llm_server.script(DeepJson(code=503, depth=100_000), DeepJson(code=503, depth=900))
    llm_server.default = Ok("recovered")
    async with AsyncClient(
        [http_provider(llm_server.base_url)], retry=Retry(attempts=3, base=0), clock=InstantClock()
    ) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "recovered"
    assert llm_server.calls == 3
    assert resp.route is not None
    assert [a.error for a in resp.route.attempts] == [
        "ServiceUnavailableError",
        "ServiceUnavailableError",
        None,
    ]
