"""The last three stream faults (issue 22), through the public API against the real
``FaultServer``: a primary that cuts, or stalls, at the same point every time; a fallback that
rejects prefill; a fallback that declares prefix completion and ignores it. And the route of a
stream that broke and was not recovered.

Times that matter run on trio's ``MockClock`` (virtual time that jumps over idle waits), read
by the client through ``LoopClock``: the default 10 s idle limit is exercised as it is, and the
time to the outcome is measured, without a test waiting 10 s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from _support import USER, http_provider
from hypothesis import given
from hypothesis import strategies as st
from trio.testing import MockClock

from deepseek_resilient import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    ChatCompletionChunk,
    Client,
    IncompleteStreamError,
    Retry,
)
from deepseek_resilient._streaming.recovery import fresh_answer, held_back
from deepseek_resilient._streaming.splice import Splice
from deepseek_resilient.testing import (
    CutStream,
    Echo,
    FaultServer,
    IgnorePrefix,
    Ok,
    RejectPrefill,
    StallAfter,
    Step,
)
from deepseek_resilient.testing._steps import prefix_of

FULL = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
SENT = "alpha beta gamma "  # what CutStream(after=3) / StallAfter(after=3) deliver
#: A stall that sends keep-alives rarely, so the loop is idle between them and virtual time
#: jumps to the next deadline (the idle limit) after a second of real time.
STALL = StallAfter(after=3, seconds=60, interval=3.0, content=FULL)
CUT = CutStream(after=3, content=FULL)


def virtual_trio() -> Any:
    """An ``anyio_backend`` param: trio on a MockClock that jumps when idle for 1 s (real)."""
    return pytest.param(("trio", {"clock": MockClock(autojump_threshold=1.0)}), id="trio-virtual")


class LoopClock:
    """The event loop's own clock as the client's ``Clock`` (virtual under a MockClock)."""

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def continues(full: str) -> Any:
    """A rule: a server that honours prefix completion, answering ``full`` (or its rest)."""

    def rule(index: int, body: dict[str, Any] | None) -> Step:
        done = prefix_of(body)
        return Ok(full if done is None else full[len(done) :])

    return rule


def quotes(full: str) -> Any:
    """A rule: a server that takes a prefill as a finished turn and answers about it (as
    ``python -m llama_cpp.server`` did), and answers ``full`` to a plain request."""

    def rule(index: int, body: dict[str, Any] | None) -> Step:
        done = prefix_of(body)
        return Ok(full if done is None else f'The original sentence is "{done.strip()}", then')

    return rule


@pytest.fixture
def fallback_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=120) as server:
        yield server


def text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def collect(stream: Any) -> list[ChatCompletionChunk]:
    async with stream:
        return [c async for c in stream]


def errors(stream: Any) -> list[tuple[str, str | None]]:
    return [(a.provider, a.error) for a in stream.route.attempts]


# ------------------------------------------------------------- a primary that cuts every time


@pytest.mark.anyio
async def test_a_primary_cut_at_the_same_point_is_restarted_once_then_the_fallback_finishes(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = CUT
    fallback_server.default = Ok(FULL)
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback"),
    ]
    async with AsyncClient(providers, timeout=45) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert llm_server.calls == 2  # one fruitless restart, never a third
    assert errors(stream) == [
        ("primary", "APIConnectionError"),
        ("primary", "APIConnectionError"),
        ("fallback", None),
    ]
    assert [(r.how, r.provider, r.at) for r in stream.route.recoveries] == [
        ("restart", "fallback", len(SENT))
    ]
    assert stream.route.summary().startswith("answered by fallback")


@pytest.mark.anyio
async def test_a_prefix_primary_cut_at_the_same_point_is_continued_by_a_prefix_fallback(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    """Both declare prefix completion: the primary's continuation breaks with nothing new
    (it cuts where it did), so the next recovery goes on from the fallback."""
    llm_server.rule = lambda i, body: CutStream(after=0) if prefix_of(body) else CUT
    fallback_server.rule = continues(FULL)
    providers = [
        http_provider(llm_server.base_url, prefix_completion=True, retry=Retry(attempts=1)),
        http_provider(fallback_server.base_url, name="fallback", prefix_completion=True),
    ]
    async with AsyncClient(providers, timeout=45) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert [(r.how, r.provider) for r in stream.route.recoveries] == [("continue", "fallback")]
    assert fallback_server.requests[0].body["messages"][-1] == {  # type: ignore[index]
        "role": "assistant",
        "content": "alpha beta",  # " gamma " held back: written again, then dropped
        "prefix": True,
    }


@pytest.mark.anyio
async def test_a_spent_provider_is_not_asked_again_at_the_next_break(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    """primary cuts at word 3, the first fallback at word 6, both every time: each gets one
    fruitless restart in all; the second fallback finishes."""
    llm_server.default = CUT
    fallback_server.default = CutStream(after=6, content=FULL)
    with FaultServer(lifetime=60) as last:
        last.default = Ok(FULL)
        providers = [
            http_provider(llm_server.base_url),
            http_provider(fallback_server.base_url, name="fallback"),
            http_provider(last.base_url, name="last"),
        ]
        async with AsyncClient(providers, timeout=45) as client:
            stream = await client.chat.completions.create(messages=USER, stream=True)
            assert text(await collect(stream)) == FULL
    assert (llm_server.calls, fallback_server.calls, last.calls) == (2, 2, 1)
    assert [(r.provider, r.at) for r in stream.route.recoveries] == [
        ("fallback", len(SENT)),
        ("last", len("alpha beta gamma delta epsilon zeta ")),
    ]


def test_a_primary_cut_at_the_same_point_sync(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = CUT
    fallback_server.default = Ok(FULL)
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback"),
    ]
    with Client(providers, timeout=45) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            assert text(list(stream)) == FULL
    assert llm_server.calls == 2 and stream.route.provider == "fallback"


# ------------------------------------------------------------- a primary that stalls every time


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [virtual_trio()])
async def test_a_stall_after_commit_ends_within_the_idle_limit_plus_one_fallback_answer(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    """The issue's scenario at default settings: the stalled primary is not waited on twice;
    the fallback answers right after the 10 s idle limit (it took 41.4 s before)."""
    llm_server.default = STALL
    fallback_server.default = Ok(FULL)
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback"),
    ]
    async with AsyncClient(providers, clock=LoopClock()) as client:
        started = anyio.current_time()
        stream = await client.chat.completions.create(messages=USER, stream=True, timeout=45)
        assert text(await collect(stream)) == FULL
        took = anyio.current_time() - started
    print(f"\nstall after commit -> complete answer from the fallback in {took:.2f} s (virtual)")
    assert 10.0 <= took <= 15.0
    assert llm_server.calls == 1
    assert errors(stream) == [("primary", "APITimeoutError"), ("fallback", None)]
    (splice,) = stream.route.recoveries
    assert (splice.how, splice.provider, splice.error) == ("restart", "fallback", "APITimeoutError")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", [virtual_trio()])
async def test_a_stall_with_nobody_else_to_answer_fails_once_the_primary_stalls_again(
    llm_server: FaultServer,
) -> None:
    """Alone, the stalled primary is restarted once; it stalls at the same point again and
    the stream fails with the truth in its route (no third try)."""
    llm_server.default = STALL
    primary = http_provider(llm_server.base_url, data_idle_timeout=10.0)
    async with AsyncClient([primary], clock=LoopClock()) as client:
        started = anyio.current_time()
        stream = await client.chat.completions.create(messages=USER, stream=True, timeout=45)
        with pytest.raises(IncompleteStreamError) as info:
            await collect(stream)
        took = anyio.current_time() - started
    assert info.value.partial == SENT and isinstance(info.value.__cause__, APITimeoutError)
    assert llm_server.calls == 2 and 20.0 <= took <= 25.0
    failure = stream.route.failure
    assert failure is not None
    assert (failure.provider, failure.error, failure.at) == ("primary", "APITimeoutError", 17)
    assert stream.route.summary().startswith(
        "failed: the stream from primary broke after 17 chars (APITimeoutError)"
    )


def test_a_stall_after_commit_hands_over_sync(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = StallAfter(after=3, seconds=30, interval=0.05, content=FULL)
    fallback_server.default = Ok(FULL)
    providers = [
        http_provider(llm_server.base_url, data_idle_timeout=0.5),
        http_provider(fallback_server.base_url, name="fallback"),
    ]
    with Client(providers, timeout=20) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            assert text(list(stream)) == FULL
    assert llm_server.calls == 1 and stream.route.provider == "fallback"


# ------------------------------------------------------------- a fallback that rejects prefill


@pytest.mark.anyio
async def test_a_fallback_that_rejects_prefill_restarts_instead(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = CUT
    fallback_server.rule = RejectPrefill()
    fallback_server.default = Ok(FULL)
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback", prefix_completion=True),
    ]
    async with AsyncClient(providers, timeout=45) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert llm_server.calls == 2 and fallback_server.calls == 2
    assert errors(stream) == [
        ("primary", "APIConnectionError"),
        ("primary", "APIConnectionError"),
        ("fallback", "BadRequestError"),
        ("fallback", None),
    ]
    assert [(r.how, r.provider) for r in stream.route.recoveries] == [("restart", "fallback")]


def test_a_fallback_that_rejects_prefill_sync(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = CUT
    fallback_server.rule = RejectPrefill()
    fallback_server.default = Ok("a different answer")
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback", prefix_completion=True),
    ]
    with Client(providers, timeout=45) as client:
        stream = client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError) as info, stream:
            list(stream)
    # the 400 never masks the cut; the restart's other answer is never spliced
    assert info.value.partial == SENT and isinstance(info.value.__cause__, APIConnectionError)
    assert errors(stream)[-2:] == [("fallback", "BadRequestError"), ("fallback", "Diverged")]
    assert stream.route.failure is not None and stream.route.failure.at == len(SENT)


# ------------------------------------------------- a fallback that declares prefix, ignores it


@pytest.mark.anyio
@pytest.mark.parametrize("answer", ["repeats", "quotes"])
async def test_a_continuation_that_starts_a_fresh_answer_is_never_concatenated(
    llm_server: FaultServer, fallback_server: FaultServer, answer: str
) -> None:
    """The fallback takes the prefill and answers anew: from the start (``repeats``) or
    about the delivered text (``quotes``). Detected, dropped, and restarted instead."""
    llm_server.default = CUT
    if answer == "repeats":
        fallback_server.default = Ok(FULL)
    else:
        fallback_server.rule = quotes(FULL)
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback", prefix_completion=True),
    ]
    async with AsyncClient(providers, timeout=45) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        assert text(await collect(stream)) == FULL
    assert errors(stream)[-2:] == [("fallback", "IgnoredPrefix"), ("fallback", None)]
    assert [(r.how, r.provider) for r in stream.route.recoveries] == [("restart", "fallback")]
    assert fallback_server.requests[1].body["messages"][-1]["role"] == "user"  # type: ignore[index]


@pytest.mark.anyio
async def test_an_ignored_prefix_with_a_diverging_restart_raises_with_the_true_prefix(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = CUT
    fallback_server.rule = IgnorePrefix(Echo())  # answers "echo: <the delivered text>"
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback", prefix_completion=True),
    ]
    async with AsyncClient(providers, timeout=45) as client:
        stream = await client.chat.completions.create(messages=USER, stream=True)
        got: list[ChatCompletionChunk] = []
        with pytest.raises(IncompleteStreamError) as info:
            async with stream:
                async for chunk in stream:
                    got.append(chunk)
    assert info.value.partial == SENT == text(got)  # nothing of the fresh answer passed
    assert errors(stream)[-2:] == [("fallback", "IgnoredPrefix"), ("fallback", "Diverged")]
    assert not stream.route.summary().startswith("answered by")


def test_a_continuation_that_starts_a_fresh_answer_sync(
    llm_server: FaultServer, fallback_server: FaultServer
) -> None:
    llm_server.default = CUT
    fallback_server.rule = quotes(FULL)
    providers = [
        http_provider(llm_server.base_url),
        http_provider(fallback_server.base_url, name="fallback", prefix_completion=True),
    ]
    with Client(providers, timeout=45) as client:
        stream = client.chat.completions.create(messages=USER, stream=True)
        assert stream.until_done().choices[0].message.content == FULL
    assert errors(stream)[-2:] == [("fallback", "IgnoredPrefix"), ("fallback", None)]


@pytest.mark.anyio
async def test_a_provider_that_passed_the_tail_check_is_trusted_with_the_whole_text(
    llm_server: FaultServer,
) -> None:
    rest = continues(FULL)
    llm_server.rule = lambda i, body: rest(i, body) if prefix_of(body) else CutStream(4, FULL)
    primary = http_provider(llm_server.base_url, prefix_completion=True)
    async with AsyncClient([primary], timeout=10) as client:
        for _ in range(2):
            stream = await client.chat.completions.create(messages=USER, stream=True)
            assert text(await collect(stream)) == FULL
    prefixes = [r.body["messages"][-1]["content"] for r in llm_server.requests if prefix_of(r.body)]  # type: ignore[index]
    assert prefixes == ["alpha beta gamma", "alpha beta gamma delta "]


# ------------------------------------------------------------- the rules, as pure functions


@pytest.mark.parametrize(
    ("delivered", "tail"),
    [
        ("alpha beta gamma ", " gamma "),
        ("The primary colors are", " are"),
        ("1. 1\n2. 2\n3. ", "\n3. "),
        ("alpha", ""),  # one word: nothing to hold back (the fresh-answer rule checks it)
        ("  alpha ", ""),
        ("a " + "b" * 50, "b" * 32),  # at most 32 characters
    ],
)
def test_the_tail_held_back_from_a_continuation(delivered: str, tail: str) -> None:
    assert held_back(delivered) == tail


@pytest.mark.parametrize(
    ("new", "ended", "fresh"),
    [
        ("1, 2, 3, 4, 5, 6", True, True),  # repeats the start
        ('The original sentence is "1, 2, 3, 4, 5,", then', True, True),  # quotes it
        (" 6, 7, 8", True, False),  # goes on
        (" 6, 7, 8", False, None),  # too early to tell
        ("1, 2", False, None),
        (" 6, 7, 8" + " 9" * 120, False, False),  # past the window: decided
    ],
)
def test_the_fresh_answer_rule(new: str, ended: bool, fresh: bool | None) -> None:
    assert fresh_answer("1, 2, 3, 4, 5,", new, ended=ended) is fresh


@given(st.text(min_size=1, max_size=60), st.integers(0, 60), st.lists(st.integers(0, 80)))
def test_a_real_continuation_after_a_held_back_tail_emits_exactly_the_rest(
    answer: str, at: int, cuts: list[int]
) -> None:
    """Whatever the chunking, a continuation that writes the held-back tail again and goes on
    passes exactly the rest: delivered + emitted == the answer."""
    delivered = answer[: at % (len(answer) + 1)]
    tail = held_back(delivered)
    written = answer[len(delivered) - len(tail) :]  # what the server writes after the prefix
    splice = Splice("continue", "first", tail)
    emitted = []
    for piece in pieces(written, cuts):
        fitted = splice.fit(
            ChatCompletionChunk.model_validate(
                {"id": "x", "choices": [{"delta": {"content": piece}}]}
            )
        )
        if fitted is not None:
            emitted.append(fitted.choices[0].delta.content or "")
    assert delivered + "".join(emitted) == answer


def pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(points)]
