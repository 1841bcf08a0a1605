"""Never lose an answer (issue 11): time limits that hand over to the next provider, streams
recovered after commit, malformed events, context length, empty answers, the caller's own
deadline. Everything through the public API against the real ``FaultServer``.

Limits are set small per provider (``first_token_timeout=0.3``) so the suite stays fast; the
defaults themselves (10 s) are exercised by scaling them down once, and measured for real by
``benchmarks/faults.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio.lowlevel
import pytest
from _support import SECRET, USER, http_provider

import deepseek_resilient._policies.send as send_policy
from deepseek_resilient import (
    AllProvidersFailed,
    APIConnectionError,
    AsyncClient,
    BadRequestError,
    ChatCompletionChunk,
    Client,
    ContextLengthExceededError,
    DeadlineExceeded,
    DeepSeek,
    IncompleteStreamError,
    Retry,
)
from deepseek_resilient.testing import (
    ContentFilter,
    ContextLengthExceeded,
    CutStream,
    FakeClock,
    FakeProvider,
    FaultServer,
    Hang,
    MalformedEvent,
    Ok,
    Outage,
    RejectPrefill,
    RoleOnly,
    Silent,
    SlowFirstToken,
    StallAfter,
)
from deepseek_resilient.testing._steps import prefix_of

FULL = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
FAST = Retry(attempts=3, base=0.0, cap=0.001)
QUICK = {"first_token_timeout": 0.3, "data_idle_timeout": 0.3}
IDLE = {"data_idle_timeout": 1.0, "first_token_timeout": 30.0}  # only the idle limit is short


@pytest.fixture
def second_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=60) as server:
        yield server


def text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def continues(full: str) -> Any:
    """A rule: a server that honours prefix completion, answering ``full`` (or its rest)."""

    def rule(index: int, body: dict[str, Any] | None) -> Ok:
        done = prefix_of(body)
        return Ok(full if done is None else full[len(done) :])

    return rule


def delivered(after: int, content: str = FULL) -> str:
    """What a ``CutStream(after=n)`` delivers: the first n words, each with its space."""
    return "".join(w + " " for w in content.split(" ")[:after])


async def collect(stream: Any) -> list[ChatCompletionChunk]:
    async with stream:
        return [c async for c in stream]


# ----------------------------------------------------------------------- 1-2. time limits


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [True, False])
async def test_silent_provider_fails_over_at_the_first_token_limit_without_retry(
    llm_server: FaultServer, second_server: FaultServer, stream: bool
) -> None:
    llm_server.default = Silent(seconds=30)
    second_server.default = Ok("fallback answer")
    primary = http_provider(llm_server.base_url, retry=FAST, **QUICK)
    fallback = http_provider(second_server.base_url, name="fallback")
    started = time.monotonic()
    async with AsyncClient([primary, fallback], timeout=20) as client:
        resp = await client.chat.completions.create(messages=USER, stream=stream)
        answer = text(await collect(resp)) if stream else resp.choices[0].message.content
    assert answer == "fallback answer" and time.monotonic() - started < 5
    # No retry on the silent provider (the server may not even have read the one request
    # when the client gave up on a busy machine: at most one, and one attempt in the route).
    assert llm_server.calls <= 1
    assert resp.route is not None
    assert [a.error for a in resp.route.attempts] == ["FirstTokenTimeoutError", None]


@pytest.mark.anyio
async def test_slow_first_token_behind_keepalives_hands_over(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    """Keep-alives (and the role chunk) are no content: the first-token limit still runs."""
    llm_server.default = SlowFirstToken(seconds=20, interval=0.05)
    second_server.default = Ok("quick")
    primary = http_provider(llm_server.base_url, retry=FAST, **QUICK)
    fallback = http_provider(second_server.base_url, name="fallback")
    async with AsyncClient([primary, fallback], timeout=20) as client:
        for stream in (True, False):
            resp = await client.chat.completions.create(messages=USER, stream=stream)
            answer = text(await collect(resp)) if stream else resp.choices[0].message.content
            assert answer == "quick" and resp.route is not None
            assert [a.error for a in resp.route.attempts] == ["FirstTokenTimeoutError", None]
    assert llm_server.calls <= 2  # one attempt per request, never retried


@pytest.mark.anyio
async def test_default_limits_apply_only_while_another_provider_remains(
    llm_server: FaultServer, second_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No option set: the default first-token limit (scaled down here from 10 s, where the
    attempt layer reads it) hands a silent primary over; the last provider keeps the whole
    time left. Without the default the primary would hold the request for its whole share
    (7.5 s of the 10 s timeout) before the fallback is asked."""
    assert send_policy.DEFAULT_FIRST_TOKEN_TIMEOUT == 10.0  # what the README promises
    monkeypatch.setattr(send_policy, "DEFAULT_FIRST_TOKEN_TIMEOUT", 0.3)
    llm_server.default = Silent(seconds=30)
    second_server.default = SlowFirstToken(seconds=0.6, interval=0.05, content="late but whole")
    primary = http_provider(llm_server.base_url)
    fallback = http_provider(second_server.base_url, name="fallback")
    async with AsyncClient([primary, fallback], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == "late but whole"
    assert [a.error for a in stream.route.attempts] == ["FirstTokenTimeoutError", None]
    assert stream.route.attempts[0].latency < 5  # 0.3 s, generous for a busy machine


def test_silent_provider_sync(llm_server: FaultServer, second_server: FaultServer) -> None:
    llm_server.default = Silent(seconds=30)
    second_server.default = Ok("sync fallback")
    providers = [
        http_provider(llm_server.base_url, retry=FAST, **QUICK),
        http_provider(second_server.base_url, name="fallback"),
    ]
    with Client(providers, timeout=20) as client:
        resp = client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "sync fallback"
    assert [a.provider for a in resp.route.attempts] == ["primary", "fallback"]  # type: ignore[union-attr]
    assert llm_server.calls <= 1


# ----------------------------------------------------------------------- 3. cut: continue


@pytest.mark.anyio
async def test_cut_stream_is_continued_on_a_prefix_provider(llm_server: FaultServer) -> None:
    sent = delivered(4)
    llm_server.script(CutStream(after=4, content=FULL))
    llm_server.rule = continues(FULL)
    primary = http_provider(llm_server.base_url, prefix_completion=True)
    async with AsyncClient([primary], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        chunks = await collect(stream)
    assert text(chunks) == FULL  # seamless: nothing repeated, nothing lost
    assert len({c.id for c in chunks}) == 1
    (splice,) = stream.route.recoveries
    assert (splice.at, splice.provider, splice.how) == (len(sent), "primary", "continue")
    assert splice.error == "APIConnectionError"
    last = llm_server.requests[1].body["messages"][-1]  # type: ignore[index]
    # the last word is held back: a real continuation writes it again (then dropped)
    assert last == {"role": "assistant", "content": "alpha beta gamma", "prefix": True}
    assert "continue on primary" in stream.route.summary()


def test_cut_stream_is_continued_sync(llm_server: FaultServer) -> None:
    llm_server.script(CutStream(after=3, content=FULL))
    llm_server.rule = continues(FULL)
    primary = http_provider(llm_server.base_url, prefix_completion=True)
    with Client([primary], timeout=10) as client:
        stream = client.chat.completions.create(messages=USER, stream=True)
        assert stream.until_done().choices[0].message.content == FULL
    assert [r.how for r in stream.route.recoveries] == ["continue"]


@pytest.mark.anyio
async def test_deepseek_continues_on_its_beta_endpoint(llm_server: FaultServer) -> None:
    llm_server.script(CutStream(after=2, content=FULL))
    llm_server.rule = continues(FULL)
    deepseek = DeepSeek(api_key=SECRET, base_url=llm_server.base_url.removesuffix("/v1"))
    async with AsyncClient([deepseek], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert [r.path for r in llm_server.requests] == ["/chat/completions", "/beta/chat/completions"]
    with_v1 = DeepSeek(api_key=SECRET, base_url="https://api.deepseek.com/v1")
    assert with_v1.prefix_url == "https://api.deepseek.com/beta/chat/completions"


@pytest.mark.anyio
async def test_a_rejected_prefill_never_masks_the_original_error(llm_server: FaultServer) -> None:
    """The provider claims prefix completion but answers 400 to it: the stream restarts
    instead, and when that diverges the caller gets the cut, not the 400."""
    llm_server.rule = RejectPrefill()
    llm_server.script(CutStream(after=3, content=FULL))
    llm_server.default = Ok("something else entirely")
    primary = http_provider(llm_server.base_url, prefix_completion=True)
    async with AsyncClient([primary], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info:
            await collect(stream)
    assert info.value.partial == delivered(3)
    assert isinstance(info.value.__cause__, APIConnectionError)
    assert not isinstance(info.value.__cause__, BadRequestError)
    errors = [a.error for a in stream.route.attempts]
    assert errors == ["APIConnectionError", "BadRequestError", "Diverged"]


# ----------------------------------------------------------------------- 3. cut: restart


@pytest.mark.anyio
async def test_cut_stream_restarts_and_emits_only_the_extension(llm_server: FaultServer) -> None:
    llm_server.script(CutStream(after=5, content=FULL), Ok(FULL))
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        chunks = await collect(stream)
    assert text(chunks) == FULL
    assert [(r.how, r.at) for r in stream.route.recoveries] == [("restart", len(delivered(5)))]
    # a provider that did not declare prefix completion never gets a prefill
    assert all(r.body["messages"][-1]["role"] == "user" for r in llm_server.requests)  # type: ignore[index]


@pytest.mark.anyio
async def test_restart_moves_on_to_the_next_provider(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    """The broken provider cannot answer again (503s): the fallback, giving the same answer,
    finishes the stream."""
    from deepseek_resilient.testing import Status

    llm_server.script(CutStream(after=2, content=FULL))
    llm_server.default = Status(503)
    second_server.default = Ok(FULL)
    providers = [
        http_provider(llm_server.base_url, retry=FAST),
        http_provider(second_server.base_url, name="fallback"),
    ]
    async with AsyncClient(providers, timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert [(r.how, r.provider) for r in stream.route.recoveries] == [("restart", "fallback")]
    assert stream.route.provider == "fallback"


# ----------------------------------------------------------------------- 4. stall


@pytest.mark.anyio
async def test_stall_after_commit_is_recovered_at_the_idle_limit(llm_server: FaultServer) -> None:
    """Keep-alives every 50 ms never reset the 1 s data-idle limit."""
    llm_server.script(StallAfter(after=3, seconds=20, interval=0.05, content=FULL))
    llm_server.rule = continues(FULL)
    primary = http_provider(llm_server.base_url, prefix_completion=True, **IDLE)
    started = time.monotonic()
    async with AsyncClient([primary, FakeProvider("spare")], timeout=20) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert time.monotonic() - started < 5
    (splice,) = stream.route.recoveries
    assert (splice.how, splice.error) == ("continue", "APITimeoutError")


@pytest.mark.anyio
async def test_completion_stalled_after_its_first_words_hands_over_at_the_idle_limit(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    """A non-streamed request goes upstream as a stream while a fallback remains; keep-alives
    after the first words never reset the 1 s data-idle limit of the read to its end."""
    llm_server.default = StallAfter(after=3, seconds=20, interval=0.05, content=FULL)
    second_server.default = Ok("fallback answer")
    # first_token_timeout under the attempt's share: the request goes upstream as a stream
    limits = {"data_idle_timeout": 1.0, "first_token_timeout": 10.0}
    primary = http_provider(llm_server.base_url, retry=Retry(attempts=1), **limits)
    fallback = http_provider(second_server.base_url, name="fallback")
    started = time.monotonic()
    async with AsyncClient([primary, fallback], timeout=20) as client:
        resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "fallback answer"
    assert time.monotonic() - started < 5  # not the 20 s of keep-alives
    assert resp.route is not None
    assert [a.error for a in resp.route.attempts] == ["APITimeoutError", None]
    # the idle limit's own error: a failure of the primary, not a cut of the caller's budget
    assert client.health()["primary"].failure_rate == 1.0


def test_stall_after_commit_sync(llm_server: FaultServer) -> None:
    llm_server.script(StallAfter(after=2, seconds=20, interval=0.05, content=FULL), Ok(FULL))
    primary = http_provider(llm_server.base_url, **IDLE)
    with Client([primary], timeout=20) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            assert text(list(stream)) == FULL
    assert [r.how for r in stream.route.recoveries] == ["restart"]


# ----------------------------------------------------------------------- 5. malformed events


@pytest.mark.anyio
async def test_one_malformed_event_is_skipped_and_counted(llm_server: FaultServer) -> None:
    llm_server.script(MalformedEvent(at=3, content=FULL))
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
        plain_server_answer = await client.chat.completions.create(messages=USER)
    assert stream.route.skipped_events == 1 and stream.route.recoveries == []
    assert "1 malformed event(s) skipped" in stream.route.summary()
    assert plain_server_answer.choices[0].message.content


@pytest.mark.anyio
async def test_a_run_of_malformed_events_breaks_the_stream_and_is_recovered(
    llm_server: FaultServer,
) -> None:
    llm_server.script(MalformedEvent(at=2, count=3, content=FULL), Ok(FULL))
    async with AsyncClient([http_provider(llm_server.base_url)], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert [(r.how, r.error) for r in stream.route.recoveries] == [
        ("restart", "InvalidResponseError")
    ]


# ----------------------------------------------------------------------- 6. context length


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [True, False])
async def test_context_length_400_fails_over_at_once(
    llm_server: FaultServer, second_server: FaultServer, stream: bool
) -> None:
    llm_server.default = ContextLengthExceeded()
    second_server.default = Ok("bigger window")
    providers = [
        http_provider(llm_server.base_url, retry=FAST),
        http_provider(second_server.base_url, name="fallback"),
    ]
    async with AsyncClient(providers, timeout=10) as client:
        resp = await client.chat.completions.create(messages=USER, stream=stream)
        answer = text(await collect(resp)) if stream else resp.choices[0].message.content
    assert answer == "bigger window" and llm_server.calls == 1
    assert resp.route is not None
    assert resp.route.attempts[0].error == "ContextLengthExceededError"


def test_content_filter_400_still_propagates_without_failover(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    llm_server.default = ContentFilter()
    providers = [
        http_provider(llm_server.base_url, retry=FAST),
        http_provider(second_server.base_url, name="fallback"),
    ]
    with Client(providers, timeout=10) as client, pytest.raises(BadRequestError) as info:
        client.chat.completions.create(messages=USER)
    assert not isinstance(info.value, ContextLengthExceededError)
    assert "Content Exists Risk" in str(info.value) and second_server.calls == 0


@pytest.mark.anyio
async def test_a_declared_context_window_skips_the_provider_before_sending(
    llm_server: FaultServer,
) -> None:
    small = http_provider(llm_server.base_url, name="small", context_window=300)
    big = FakeProvider("big")
    long = [{"role": "user", "content": "word " * 400}]
    async with AsyncClient([small, big], timeout=10) as client:
        resp = await client.chat.completions.create(messages=long)
        fits = await client.chat.completions.create(messages=USER, max_tokens=16)
    assert resp.route is not None and resp.route.provider == "big" and llm_server.calls == 1
    skipped = resp.route.attempts[0]
    assert (skipped.provider, skipped.outcome, skipped.error) == (
        "small",
        "skipped",
        "ContextLengthExceededError",
    )
    assert fits.route is not None and fits.route.provider == "small"
    with pytest.raises(AllProvidersFailed):
        async with AsyncClient([small], timeout=10) as alone:
            await alone.chat.completions.create(messages=long)


# ----------------------------------------------------------------------- 8. empty answers


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [True, False])
async def test_an_empty_answer_is_retried(llm_server: FaultServer, stream: bool) -> None:
    llm_server.script(RoleOnly(), Ok("real answer"))
    async with AsyncClient([http_provider(llm_server.base_url, retry=FAST)]) as client:
        resp = await client.chat.completions.create(messages=USER, stream=stream)
        answer = text(await collect(resp)) if stream else resp.choices[0].message.content
    assert answer == "real answer" and llm_server.calls == 2
    assert resp.route is not None
    assert [a.error for a in resp.route.attempts] == ["InvalidResponseError", None]


def test_an_empty_answer_fails_over_sync(
    llm_server: FaultServer, second_server: FaultServer
) -> None:
    llm_server.default = RoleOnly()
    second_server.default = Ok("from the fallback")
    providers = [
        http_provider(llm_server.base_url, retry=FAST),
        http_provider(second_server.base_url, name="fallback"),
    ]
    with Client(providers, timeout=10) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            assert text(list(stream)) == "from the fallback"
    assert llm_server.calls == 3


# ----------------------------------------------------------------------- 9. caller's deadline


@pytest.mark.anyio
async def test_a_callers_tight_deadline_is_not_the_providers_fault() -> None:
    """Callers with ``timeout=0.2`` against a slow primary never open its breaker; a primary
    that stalls past its own ``attempt_timeout`` does."""
    slow = FakeProvider("primary", default=Hang())
    async with AsyncClient([slow, FakeProvider("fallback")], retry=Retry(attempts=1)) as client:
        cut = 0
        for _ in range(30):  # on a busy machine a call may end before the primary's cut
            try:
                resp = await client.chat.completions.create(messages=USER, timeout=0.2)
                route = resp.route
            except DeadlineExceeded as exc:
                route = exc.route
            assert route is not None
            cut += [a.error for a in route.attempts[:1]] == ["APITimeoutError"]
            if cut == 8:
                break
        assert cut == 8 and client.health()["primary"].state == "closed"
    stalling = FakeProvider("primary", default=Hang(), attempt_timeout=0.02)
    async with AsyncClient([stalling, FakeProvider("fallback")], retry=Retry(attempts=1)) as c:
        for _ in range(8):
            await c.chat.completions.create(messages=USER, timeout=5)
        assert c.health()["primary"].state == "open"


# ----------------------------------------------------------------------- 7. outage, then healthy


@pytest.mark.anyio
async def test_a_recovered_primary_is_used_again_within_10_s(
    llm_server: FaultServer, fake_clock: FakeClock
) -> None:
    """Primary down 60 s then healthy; 20 requests, one every 4 s; default policies. The dead
    primary gets only a trickle of probes, and answers again within ~10 s of recovering."""
    start = fake_clock.now()
    outage = Outage(fake_clock, start, start + 60)
    llm_server.rule = outage
    llm_server.default = Ok("primary")
    primary = http_provider(llm_server.base_url)
    served: list[tuple[float, str]] = []
    async with AsyncClient([primary, FakeProvider("fallback")], clock=fake_clock) as client:
        for _ in range(20):
            resp = await client.chat.completions.create(messages=USER)
            assert resp.route is not None and resp.route.provider is not None
            served.append((fake_clock.now() - start, resp.route.provider))
            fake_clock.advance(4)
    back = min(t for t, who in served if who == "primary" and t >= 60)
    assert back - 60 <= 10
    assert all(who == "fallback" for t, who in served if t < 60)
    probes = outage.served
    print(f"outage 60 s: {probes} requests reached the dead primary; back on it {back - 60:g} s")
    # Two requests' attempts (3 each) trip the breaker; then one probe per 5-10 s of outage.
    assert probes <= 6 + 60 // 5


# ----------------------------------------------------------------------- memory (issue 12)


class _Many(FakeProvider):
    """Streams ``n`` one-character chunks, yielding to the event loop between them (as a
    network stream does)."""

    def __init__(self, n: int) -> None:
        super().__init__("many")
        self.n = n

    async def stream(self, request: Any, *, idle_timeout: float) -> Any:
        for i in range(self.n):
            await anyio.lowlevel.checkpoint()
            done = "stop" if i == self.n - 1 else None
            yield ChatCompletionChunk.model_validate(
                {"id": "m", "choices": [{"delta": {"content": "x"}, "finish_reason": done}]}
            )


@pytest.mark.anyio
async def test_a_long_stream_keeps_only_what_the_answer_needs() -> None:
    """50 000 chunks (~2 KB each as objects, ~100 MB if kept): once read, none is alive;
    the stream keeps the text only."""
    import gc

    def alive() -> int:
        gc.collect()
        return sum(type(o) is ChatCompletionChunk for o in gc.get_objects())  # no proxy asked

    async with AsyncClient([_Many(50_000)], timeout=60) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        before = alive()
        n = 0
        async for _ in stream:
            n += 1
        assert alive() - before <= 2
        assert n == 50_000 and len(stream.partial) == 50_000


# ----------------------------------------------------------------------- splicing rules


Piece = tuple[str, Any]  # ("content" | "reasoning" | "tool" | "finish", value)


class _Scripted(FakeProvider):
    """Each call streams the next script: pieces, then an exception instance (a break) or the
    end. Chunk boundaries are exactly the pieces, so a splice can fall mid-chunk."""

    def __init__(self, name: str, *scripts: list[Piece | Exception], prefix: bool = False):
        super().__init__(name)
        self.scripts = list(scripts)
        self.prefix_completion = prefix

    async def stream(self, request: Any, *, idle_timeout: float) -> Any:
        self.requests.append(request)
        for piece in self.scripts.pop(0):
            await anyio.lowlevel.checkpoint()
            if isinstance(piece, Exception):
                raise piece
            kind, value = piece
            delta: dict[str, Any] = {}
            finish = None
            if kind == "content":
                delta["content"] = value
            elif kind == "reasoning":
                delta["reasoning_content"] = value
            elif kind == "tool":
                delta["tool_calls"] = [value]
            else:
                finish = value
            yield ChatCompletionChunk.model_validate(
                {"id": f"{self.name}-{self.calls}", "model": "m",
                 "choices": [{"delta": delta, "finish_reason": finish}]}
            )  # fmt: skip


def _cut() -> Exception:
    return APIConnectionError("cut", provider="p")


@pytest.mark.anyio
async def test_a_restart_is_trimmed_even_when_chunks_do_not_line_up() -> None:
    p = _Scripted(
        "p",
        [("content", "al"), ("content", "pha be"), _cut()],
        [("content", "alpha"), ("content", " beta gam"), ("content", "ma"), ("finish", "stop")],
    )
    async with AsyncClient([p], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        chunks = await collect(stream)
    assert text(chunks) == "alpha beta gamma"
    assert [c.choices[0].delta.content for c in chunks] == ["al", "pha be", "ta gam", "ma", None]


@pytest.mark.anyio
async def test_a_stream_cut_while_reasoning_restarts_and_keeps_reasoning_whole() -> None:
    p = _Scripted(
        "p",
        [("reasoning", "think "), ("reasoning", "hard"), _cut()],
        [("reasoning", "think hard"), ("reasoning", "er"), ("content", "42"), ("finish", "stop")],
        prefix=True,  # no content yet: nothing to continue, so it restarts
    )
    async with AsyncClient([p], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        whole = await stream.until_done()
    assert whole.choices[0].message.reasoning_content == "think harder"
    assert whole.choices[0].message.content == "42"
    assert [r.how for r in stream.route.recoveries] == ["restart"]
    assert all(r.messages[-1].role == "user" for r in p.requests)


@pytest.mark.anyio
async def test_a_half_sent_tool_call_is_not_spliced() -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}
    p = _Scripted("p", [("tool", call), _cut()], [("content", "x"), ("finish", "stop")])
    async with AsyncClient([p], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info:
            await collect(stream)
    assert isinstance(info.value.__cause__, APIConnectionError) and p.calls == 1


@pytest.mark.anyio
async def test_a_restart_shorter_than_the_delivered_text_is_an_error() -> None:
    p = _Scripted(
        "p",
        [("content", "alpha beta"), _cut()],
        [("content", "alpha"), ("finish", "stop")],
    )
    async with AsyncClient([p], timeout=10) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info:
            await collect(stream)
    assert info.value.partial == "alpha beta"
    assert [a.error for a in stream.route.attempts] == ["APIConnectionError", "Diverged"]
