"""Streaming end to end: the commit rule, keep-alives, deadlines and closing, against the real
fault-injecting server (and the in-process fake provider), from ``AsyncClient`` and ``Client``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from _support import FAST_RETRY, USER, http_provider

from deepseek_resilient import (
    APIConnectionError,
    AsyncClient,
    Cache,
    ChatCompletionChunk,
    Client,
    DeadlineExceeded,
    IncompleteStreamError,
    Retry,
    ServiceUnavailableError,
)
from deepseek_resilient.testing import (
    CutStream,
    FakeClock,
    FakeProvider,
    FaultServer,
    NotJson,
    Ok,
    Stall,
    StallAfter,
    Status,
    StreamError,
)

WORDS = " ".join(f"w{i}" for i in range(40))
NO_RETRY = Retry(attempts=1)


def text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture
def second_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=120.0) as server:
        yield server


def sse_body(*events: dict[str, Any], done: bool = False) -> str:
    """A whole SSE body (sent with a Content-Length: the stream ends cleanly)."""
    base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    out = "".join(f"data: {json.dumps({**base, **e})}\n\n" for e in events)
    return out + ("data: [DONE]\n\n" if done else "")


ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
HELLO = {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}
STOP = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def clean_end(*events: dict[str, Any], done: bool = False) -> NotJson:
    """A 200 SSE response that ends cleanly (no reset), with or without ``[DONE]``."""
    return NotJson(body=sse_body(*events, done=done), content_type="text/event-stream")


# ----------------------------------------------------------------------------- 1. keep-alives


@pytest.mark.anyio
async def test_keepalives_then_content(llm_server: FaultServer) -> None:
    llm_server.script(Ok(content="alpha beta gamma", keepalives=5))
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=5) as client:
        stream = await client.chat.completions.create(
            messages=USER, stream=True, stream_options={"include_usage": True}
        )
        assert stream.route.provider == "primary"
        async with stream:
            chunks = [chunk async for chunk in stream]
    assert text(chunks) == "alpha beta gamma"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert all(c.id == chunks[0].id for c in chunks)
    assert [a.outcome for a in stream.route.attempts] == ["ok"]
    assert stream.route.elapsed > 0
    assert llm_server.requests[0].body is not None and llm_server.requests[0].body["stream"]


def test_keepalives_then_content_sync(llm_server: FaultServer) -> None:
    llm_server.script(Ok(content="alpha beta gamma", keepalives=5))
    with Client([http_provider(llm_server.base_url)], timeout=5) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            chunks = list(stream)
    assert text(chunks) == "alpha beta gamma"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is not None
    assert stream.route.provider == "primary"


# ----------------------------------------------------------------------------- 2. first token


@pytest.mark.anyio
async def test_keepalive_stall_fails_over_at_the_first_token_timeout(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    llm_server.default = Stall(seconds=30, interval=0.05)
    second_server.script(Ok(content="from the fallback"))
    primary = http_provider(llm_server.base_url, first_token_timeout=0.3)  # default retries
    fallback = http_provider(second_server.base_url, name="fallback")
    async with AsyncClient([primary, fallback], timeout=10) as client:
        started = time.monotonic()
        stream = await client.chat.completions.create(messages=USER, stream=True)
        took = time.monotonic() - started
        async with stream:
            chunks = [c async for c in stream]
    assert 0.25 < took < 5  # at the 0.3 s first-token limit, not at the 7.5 s share
    assert text(chunks) == "from the fallback"
    route = stream.route
    assert route.provider == "fallback"
    assert [(a.provider, a.outcome, a.error) for a in route.attempts] == [
        ("primary", "error", "FirstTokenTimeoutError"),  # not retried: failed over at once
        ("fallback", "ok", None),
    ]
    assert llm_server.calls == 1


def test_keepalive_stall_fails_over_sync(llm_server: FaultServer) -> None:
    llm_server.default = Stall(seconds=30, interval=0.05)
    primary = http_provider(llm_server.base_url, first_token_timeout=0.3)  # default retries
    with Client([primary, FakeProvider("local", default="local answer")], timeout=10) as client:
        started = time.monotonic()
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            took = time.monotonic() - started
            assert text(list(stream)) == "local answer"
    assert took < 5 and stream.route.provider == "local"  # 0.3 s limit, not the deadline
    assert stream.route.attempts[0].error == "FirstTokenTimeoutError"


# ----------------------------------------------------------------------------- 3. cut


@pytest.mark.anyio
async def test_cut_after_commit_is_an_incomplete_stream(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    llm_server.script(CutStream(after=2, content="one two three four"))
    fallback = http_provider(second_server.base_url, name="fallback")
    primary = http_provider(llm_server.base_url, retry=FAST_RETRY)
    async with AsyncClient([primary, fallback], timeout=5) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        got: list[ChatCompletionChunk] = []
        with pytest.raises(IncompleteStreamError) as info:
            async with stream:
                async for chunk in stream:
                    got.append(chunk)
    err = info.value
    assert err.partial == "one two " == text(got)
    assert err.provider == "primary"
    assert err.route is stream.route and err.route.provider == "primary"
    assert isinstance(err.__cause__, APIConnectionError)
    assert not err.retryable and not err.failover
    # One restart from scratch on the same provider, then on the fallback; neither answer
    # repeated the delivered text, so nothing was spliced.
    assert llm_server.calls == 2 and second_server.calls == 1
    cut, restart, other = stream.route.attempts
    assert (cut.provider, cut.outcome, cut.error) == ("primary", "error", "APIConnectionError")
    assert (restart.outcome, restart.error) == ("error", "Diverged")
    assert (other.provider, other.outcome, other.error) == ("fallback", "error", "Diverged")
    assert stream.route.recoveries == []
    assert err.route.failure is not None and err.route.failure.at == len("one two ")
    assert err.route.summary().startswith("failed: the stream from primary broke after 8 chars")


def test_cut_after_commit_sync(llm_server: FaultServer) -> None:
    llm_server.script(CutStream(after=2, content="one two three four"))
    with Client([http_provider(llm_server.base_url, retry=FAST_RETRY)], timeout=5) as client:
        got: list[ChatCompletionChunk] = []
        with pytest.raises(IncompleteStreamError) as info:
            with client.chat.completions.create(messages=USER, stream=True) as stream:
                got.extend(stream)
    assert info.value.partial == "one two " == text(got) and llm_server.calls == 2  # a restart


# ----------------------------------------------------------------------------- 4. clean end


@pytest.mark.anyio
@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(clean_end(ROLE), id="clean-end-no-done"),
        pytest.param(CutStream(after=0), id="reset-after-role"),
        pytest.param(NotJson(body="", content_type="text/event-stream"), id="empty-body"),
    ],
)
async def test_end_without_done_before_commit_is_retried(
    llm_server: FaultServer, broken: NotJson | CutStream
) -> None:
    llm_server.script(broken, Ok(content="second try"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await _collect(stream)) == "second try"
    assert llm_server.calls == 2
    assert [a.error for a in stream.route.attempts] == ["APIConnectionError", None]


@pytest.mark.anyio
async def test_end_without_done_before_commit_fails_over(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    llm_server.default = clean_end(ROLE)
    second_server.script(Ok(content="fallback"))
    providers = [
        http_provider(llm_server.base_url, retry=FAST_RETRY),
        http_provider(second_server.base_url, name="fallback"),
    ]
    async with AsyncClient(providers, timeout=5) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await _collect(stream)) == "fallback"
    assert llm_server.calls == 3 and stream.route.provider == "fallback"


@pytest.mark.anyio
async def test_clean_end_without_done_after_commit_is_incomplete(llm_server: FaultServer) -> None:
    llm_server.script(clean_end(ROLE, HELLO), Ok("Goodbye"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info:
            await _collect(stream)
    assert info.value.partial == "Hello"
    assert isinstance(info.value.__cause__, APIConnectionError)
    assert llm_server.calls == 2  # the restart's answer diverged


@pytest.mark.anyio
async def test_finish_reason_without_done_is_a_normal_end(llm_server: FaultServer) -> None:
    llm_server.script(clean_end(ROLE, HELLO, STOP))
    async with AsyncClient([http_provider(llm_server.base_url)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        chunks = await _collect(stream)
    assert text(chunks) == "Hello" and chunks[-1].choices[0].finish_reason == "stop"
    assert stream.route.attempts[-1].outcome == "ok"


async def _collect(stream: Any) -> list[ChatCompletionChunk]:
    async with stream:
        return [c async for c in stream]


# ----------------------------------------------------------------------------- 5. error events


@pytest.mark.anyio
async def test_error_event_after_commit(llm_server: FaultServer) -> None:
    llm_server.script(StreamError(after=1, code=503, content="one two three"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info:
            await _collect(stream)
    assert info.value.partial == "one "
    assert isinstance(info.value.__cause__, ServiceUnavailableError)
    assert llm_server.calls == 2  # the restart's answer diverged
    assert stream.route.attempts[0].status_code == 503


@pytest.mark.anyio
async def test_error_event_before_commit_is_retried(llm_server: FaultServer) -> None:
    llm_server.script(StreamError(after=0, code=429), Ok(content="answered"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await _collect(stream)) == "answered"
    assert llm_server.calls == 2
    assert [a.error for a in stream.route.attempts] == ["RateLimitError", None]


def test_error_event_after_commit_sync(llm_server: FaultServer) -> None:
    llm_server.script(StreamError(after=1, code=503, content="one two three"))
    with Client([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info, stream:
            list(stream)
    assert isinstance(info.value.__cause__, ServiceUnavailableError)


# ----------------------------------------------------------------------------- 6. status


@pytest.mark.anyio
async def test_status_error_before_commit_is_a_transparent_retry(llm_server: FaultServer) -> None:
    llm_server.script(Status(503), Status(429, retry_after=0), Ok(content="third time"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await _collect(stream)) == "third time"
    assert [(a.error, a.status_code) for a in stream.route.attempts] == [
        ("ServiceUnavailableError", 503),
        ("RateLimitError", 429),
        (None, None),
    ]


# ----------------------------------------------------------------------------- 7. closing


@pytest.mark.anyio
async def test_early_close_releases_the_connection(llm_server: FaultServer) -> None:
    llm_server.default = Ok(content=WORDS, chunk_interval=0.01)
    provider = http_provider(llm_server.base_url, max_connections=1, retry=NO_RETRY)
    async with AsyncClient([provider], timeout=5) as client:
        routes = []
        for i in range(5):
            stream = await client.chat.completions.create(messages=USER, stream=True)
            if i % 2:
                async with stream:
                    async for _ in stream:
                        break
            else:
                await stream.__anext__()
                await stream.close()
            routes.append(stream.route)
        started = time.monotonic()
        resp = await client.chat.completions.create(messages=USER, timeout=2)
        assert time.monotonic() - started < 0.5
    assert resp.choices[0].message.content == WORDS
    assert all([a.outcome for a in r.attempts] == ["ok"] for r in routes)
    assert llm_server.calls == 6


def test_early_close_releases_the_connection_sync(llm_server: FaultServer) -> None:
    llm_server.default = Ok(content=WORDS, chunk_interval=0.01)
    provider = http_provider(llm_server.base_url, max_connections=1, retry=NO_RETRY)
    with Client([provider], timeout=5) as client:
        for i in range(5):
            stream = client.chat.completions.create(messages=USER, stream=True)
            if i % 2:
                with stream:
                    for _ in stream:
                        break
            else:
                next(stream)
                stream.close()
            assert stream.route.attempts[-1].outcome == "ok"
        started = time.monotonic()
        with client.chat.completions.create(messages=USER, stream=True, timeout=2) as stream:
            assert text(list(stream)) == WORDS
        assert time.monotonic() - started < 1.0


@pytest.mark.anyio
async def test_closed_stream_stops_at_once_and_close_is_idempotent(
    llm_server: FaultServer,
) -> None:
    llm_server.default = Ok(content=WORDS, chunk_interval=0.01)
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=5) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        await stream.close()
        await stream.close()
        assert [c async for c in stream] == []
        elapsed = stream.route.elapsed
        await stream.close()
        assert stream.route.elapsed == elapsed


def test_closed_sync_stream_stops_at_once(llm_server: FaultServer) -> None:
    with Client([http_provider(llm_server.base_url)], timeout=5) as client:
        stream = client.chat.completions.create(messages=USER, stream=True)
        stream.close()
        stream.close()
        assert list(stream) == []


# ----------------------------------------------------------------------------- 8. deadline


@pytest.mark.anyio
async def test_the_deadline_covers_consumption(llm_server: FaultServer) -> None:
    llm_server.default = Ok(content=WORDS, chunk_interval=0.2)
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=5) as client:
        started = time.monotonic()
        stream = await client.chat.completions.create(messages=USER, stream=True, timeout=0.5)
        got: list[ChatCompletionChunk] = []
        with pytest.raises(IncompleteStreamError) as info:
            async with stream:
                async for chunk in stream:
                    got.append(chunk)
        took = time.monotonic() - started
    assert 0.45 < took < 0.8
    assert isinstance(info.value.__cause__, DeadlineExceeded)
    assert info.value.partial == text(got) and info.value.partial.startswith("w0 ")
    assert stream.route.attempts[-1].error == "DeadlineExceeded"


def test_the_deadline_covers_consumption_sync(llm_server: FaultServer) -> None:
    llm_server.default = Ok(content=WORDS, chunk_interval=0.2)
    with Client([http_provider(llm_server.base_url)], timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(IncompleteStreamError) as info:
            with client.chat.completions.create(messages=USER, stream=True) as stream:
                list(stream)
        took = time.monotonic() - started
    assert 0.45 < took < 0.8 and isinstance(info.value.__cause__, DeadlineExceeded)


# ----------------------------------------------------------------------------- 9. until_done


@pytest.mark.anyio
async def test_until_done(llm_server: FaultServer) -> None:
    llm_server.script(Status(503), Ok(content="the whole answer", reasoning_content="hmm"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        first = await stream.__anext__()
        completion = await stream.until_done()
    assert first.choices[0].delta.role == "assistant"
    message = completion.choices[0].message
    assert message.content == "the whole answer" and message.reasoning_content == "hmm"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert completion.route is stream.route and completion.route.provider == "primary"
    assert [a.outcome for a in completion.route.attempts] == ["error", "ok"]


def test_until_done_sync(llm_server: FaultServer) -> None:
    with Client([http_provider(llm_server.base_url)]) as client:
        completion = client.chat.completions.create(messages=USER, stream=True).until_done()
    assert completion.choices[0].message.content == "Hello from the test server."
    assert completion.route is not None and completion.route.provider == "primary"


# ----------------------------------------------------------------------------- 10. fake


@pytest.mark.anyio
async def test_fake_provider_streams_with_failover() -> None:
    primary = FakeProvider(
        "primary", [ServiceUnavailableError("busy", status_code=503)], retry=NO_RETRY
    )
    local = FakeProvider("local", default="in process answer")
    async with AsyncClient([primary, local]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        chunks = await _collect(stream)
    assert text(chunks) == "in process answer"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is not None
    assert stream.route.provider == "local"
    assert [a.outcome for a in stream.route.attempts] == ["error", "ok"]


def test_fake_provider_streams_sync() -> None:
    with Client([FakeProvider("local", default="a b c")]) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            assert text(list(stream)) == "a b c"


# ----------------------------------------------------------------------------- threads


def test_four_threads_stream_from_one_sync_client(llm_server: FaultServer) -> None:
    def answer(i: int, body: dict[str, Any] | None) -> Ok:
        asked = body["messages"][0]["content"] if body else ""
        return Ok(content=f"echo {asked} done", chunk_interval=0.002)

    llm_server.rule = answer
    with Client([http_provider(llm_server.base_url)], timeout=10) as client:

        def work(n: int) -> list[str]:
            out = []
            for i in range(5):
                msgs = [{"role": "user", "content": f"t{n}c{i}"}]
                with client.chat.completions.create(messages=msgs, stream=True) as stream:
                    out.append(text(list(stream)))
            return out

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(work, range(4)))
    assert results == [[f"echo t{n}c{i} done" for i in range(5)] for n in range(4)]


# ----------------------------------------------------------------------------- more edges


@pytest.mark.anyio
async def test_cancelled_read_ends_the_stream_without_caching_it(llm_server: FaultServer) -> None:
    """The caller's own cancel scope firing mid-read breaks the source: the stream then stops,
    and the truncated answer must not look finished (the cache hook is never called)."""
    llm_server.default = Ok(content=WORDS, chunk_interval=0.02)
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=5) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        stored: list[object] = []
        stream._opened.on_complete.append(stored.append)  # what the cache layer hooks in
        got: list[ChatCompletionChunk] = []
        with anyio.move_on_after(0.1):
            async for chunk in stream:
                got.append(chunk)
        assert 0 < len(got) < 20
        assert [c async for c in stream] == []
        await stream.close()
    assert stored == []
    assert stream.route.attempts[-1].outcome == "ok"


@pytest.mark.anyio
async def test_a_finished_stream_reaches_the_cache_hook_and_a_closed_one_does_not(
    llm_server: FaultServer,
) -> None:
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=5) as client:
        stored: list[Any] = []
        stream = await client.chat.completions.create(messages=USER, stream=True)
        stream._opened.on_complete.append(stored.append)
        await _collect(stream)
        assert [c.choices[0].message.content for c in stored] == ["Hello from the test server."]
        stream = await client.chat.completions.create(messages=USER, stream=True)
        stream._opened.on_complete.append(stored.append)
        await stream.__anext__()
        await stream.close()
    assert len(stored) == 1


@pytest.mark.anyio
async def test_abandoned_attempts_release_their_connection(llm_server: FaultServer) -> None:
    """A first-token timeout and a deadline hit mid-stream both cancel a read: the only
    connection the provider may open must come back to the pool each time (else the third
    request would wait for a connection until it timed out and went to the fallback).

    Limits are generous (1 s to the first token, a 3 s deadline, answers that stall for 30 s)
    so that a busy machine cannot change which provider answers."""
    llm_server.script(
        Stall(seconds=30, interval=0.05),
        StallAfter(after=2, seconds=30, interval=0.05, content=WORDS),
    )
    primary = http_provider(
        llm_server.base_url, max_connections=1, first_token_timeout=1.0, retry=NO_RETRY
    )
    async with AsyncClient([primary, FakeProvider("local")], timeout=20) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert stream.route.provider == "local"  # the primary stalled: first-token limit
        await _collect(stream)
        stream = await client.chat.completions.create(messages=USER, stream=True, timeout=3)
        assert stream.route.provider == "primary"  # committed, then stalls past the deadline
        with pytest.raises(IncompleteStreamError):
            await _collect(stream)
        started = time.monotonic()
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert stream.route.provider == "primary"
        assert text(await _collect(stream)) == "Hello from the test server."
        assert time.monotonic() - started < 5  # a lost connection: the 10 s pool wait


@pytest.mark.anyio
async def test_garbage_data_before_commit_is_retried(llm_server: FaultServer) -> None:
    llm_server.script(
        NotJson(body="data: <html>busy</html>\n\n", content_type="text/event-stream"),
        Ok(content="fine"),
    )
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST_RETRY)]) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await _collect(stream)) == "fine"
    assert [a.error for a in stream.route.attempts] == ["InvalidResponseError", None]


# ----------------------------------------------------------------------------- cache replay


@pytest.mark.anyio
async def test_a_finished_stream_is_cached_and_replayed(
    llm_server: FaultServer, tmp_path: Path
) -> None:
    llm_server.script(Ok(content="cached words here", reasoning_content="think"))
    llm_server.default = Status(503)
    cache = Cache(directory=tmp_path)
    provider = http_provider(llm_server.base_url, retry=NO_RETRY)
    async with AsyncClient([provider], cache=cache, timeout=5) as client:
        live = await client.chat.completions.create(messages=USER, stream=True, temperature=0)
        live_chunks = await _collect(live)
        assert live.route.cache == "miss"
        replay = await client.chat.completions.create(messages=USER, stream=True, temperature=0)
        chunks = await _collect(replay)
        plain = await client.chat.completions.create(messages=USER, temperature=0)
    assert replay.route.cache == "hit" and llm_server.calls == 1
    assert text(chunks) == text(live_chunks) == "cached words here"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is not None
    assert plain.choices[0].message.content == "cached words here"
    assert plain.choices[0].message.reasoning_content == "think"


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["close", "cut"])
async def test_a_closed_or_failed_stream_is_not_cached(
    llm_server: FaultServer, tmp_path: Path, how: str
) -> None:
    first = CutStream(after=2, content=WORDS) if how == "cut" else Ok(content=WORDS)
    llm_server.script(first, *([Ok(content="diverges")] if how == "cut" else []), Ok("fresh"))
    provider = http_provider(llm_server.base_url, retry=NO_RETRY)
    async with AsyncClient([provider], cache=Cache(directory=tmp_path), timeout=5) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True, temperature=0)
        if how == "cut":
            with pytest.raises(IncompleteStreamError):
                await _collect(stream)
        else:
            await stream.__anext__()
            await stream.close()
        again = await client.chat.completions.create(messages=USER, stream=True, temperature=0)
        assert text(await _collect(again)) == "fresh"
    assert again.route.cache == "miss" and llm_server.calls == (3 if how == "cut" else 2)


@pytest.mark.anyio
async def test_a_stale_entry_is_replayed_as_a_stream_when_every_provider_fails(
    llm_server: FaultServer, tmp_path: Path, fake_clock: FakeClock
) -> None:
    llm_server.script(Ok(content="old but good"))
    llm_server.default = Status(503)
    cache = Cache(directory=tmp_path, ttl=60)
    provider = http_provider(llm_server.base_url, retry=NO_RETRY)
    async with AsyncClient([provider], cache=cache, clock=fake_clock, timeout=5) as client:
        await _collect(await client.chat.completions.create(messages=USER, stream=True, seed=1))
        fake_clock.advance(120)
        stream = await client.chat.completions.create(messages=USER, stream=True, seed=1)
        chunks = await _collect(stream)
    assert text(chunks) == "old but good" and stream.route.cache == "stale"
    assert [a.error for a in stream.route.attempts] == ["ServiceUnavailableError"]
