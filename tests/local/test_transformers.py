"""Transformers with the real embedded SmolLM2-135M GGUF (no fakes), incl. micro-batching."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from deepseek_resilient._core.errors import LocalModelError
from deepseek_resilient._models import ChatCompletion, ChatRequest

pytestmark = [pytest.mark.local, pytest.mark.anyio]


from deepseek_resilient._providers.local.hf_transformers import Transformers  # noqa: E402

QUESTIONS = [
    "What is 2+2?",
    "Name a colour.",
    "Say hello in French.",
    "What is the capital of Italy? Answer in one word please.",
    "Count to five.",
    "What is an apple?",
    "Give me a synonym for happy.",
    "Who wrote Hamlet?",
]


@pytest.fixture(scope="module")
def hf() -> Iterator[Transformers]:
    # A long window so that the 8 concurrent requests below surely meet in one batch even on
    # a loaded machine; the default is 5 ms.
    provider = Transformers(warm=True, batch_window=0.05)
    yield provider
    anyio.run(provider.aclose)


def ask(text: str, **params: object) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": text}], **params})


def text_of(resp: ChatCompletion) -> str:
    return resp.choices[0].message.content or ""


async def test_complete_has_content_and_usage(hf: Transformers) -> None:
    resp = await hf.complete(ask("What is 2+2?", temperature=0, max_tokens=12), idle_timeout=30)
    assert text_of(resp).strip()
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.model == hf.model == "SmolLM2-135M-Instruct.Q4_1"


async def test_max_tokens_is_honoured(hf: Transformers) -> None:
    resp = await hf.complete(
        ask("Write a long story about a dragon.", temperature=0, max_tokens=5), idle_timeout=30
    )
    assert resp.usage is not None
    assert 0 < resp.usage.completion_tokens <= 5
    assert resp.choices[0].finish_reason == "length"


async def test_stop_string_cuts_the_answer(hf: Transformers) -> None:
    full = text_of(
        await hf.complete(ask("What is 2+2?", temperature=0, max_tokens=12), idle_timeout=30)
    )
    word = full.split()[2]
    cut = await hf.complete(
        ask("What is 2+2?", temperature=0, max_tokens=12, stop=[word]), idle_timeout=30
    )
    assert text_of(cut) == full[: full.index(word)]
    assert cut.choices[0].finish_reason == "stop"
    assert cut.usage is not None and cut.usage.completion_tokens < 12


async def test_stream_yields_chunks_ending_with_finish_reason(hf: Transformers) -> None:
    request = ask(
        "What is 2+2?",
        temperature=0,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in hf.stream(request, idle_timeout=30)]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert sum(1 for c in chunks if c.has_content) >= 3
    assert text.strip()
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finished) == 1 and finished[0].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    whole = await hf.complete(ask("What is 2+2?", temperature=0, max_tokens=12), idle_timeout=30)
    assert text == text_of(whole)


async def test_closing_a_stream_early_frees_the_model(hf: Transformers) -> None:
    stream = hf.stream(
        ask("Tell me a long story.", temperature=0, max_tokens=300, stream=True), idle_timeout=30
    )
    async for chunk in stream:
        if chunk.has_content:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    calls = hf.generate_calls
    # The worker stops at the next token and releases the model: this completes promptly.
    with anyio.fail_after(20):
        resp = await hf.complete(ask("Hi", temperature=0, max_tokens=4), idle_timeout=30)
    assert text_of(resp) and hf.generate_calls == calls + 1


async def test_concurrent_requests_are_micro_batched_with_one_at_a_time_output(
    hf: Transformers,
) -> None:
    requests = [ask(q, temperature=0, max_tokens=8 + i) for i, q in enumerate(QUESTIONS)]
    alone = [await hf.complete(r, idle_timeout=30) for r in requests]
    before = hf.generate_calls
    together: list[ChatCompletion | None] = [None] * len(requests)

    async def one(i: int) -> None:
        together[i] = await hf.complete(requests[i], idle_timeout=30)

    async with anyio.create_task_group() as tg:
        for i in range(len(requests)):
            tg.start_soon(one, i)
    calls = hf.generate_calls - before
    assert 1 <= calls < len(requests)
    for a, b, r in zip(alone, together, requests):
        assert b is not None
        assert text_of(b) == text_of(a)  # left padding + attention mask: same greedy tokens
        assert b.choices[0].finish_reason == a.choices[0].finish_reason
        assert b.usage == a.usage  # each caller gets its own usage, not the batch's
        assert b.usage is not None and r.max_tokens is not None
        assert b.usage.completion_tokens <= r.max_tokens
    assert len({text_of(b) for b in together if b}) == len(requests)


async def test_incompatible_sampling_settings_are_not_batched_together(hf: Transformers) -> None:
    requests = [
        ask("Name a colour.", temperature=0, max_tokens=4),
        ask("Name a fruit.", temperature=0, max_tokens=4),
        ask("Name a colour.", temperature=0.7, seed=1, max_tokens=4),
        ask("Name a fruit.", temperature=0.7, seed=1, max_tokens=4),
    ]
    before = hf.generate_calls
    results: list[ChatCompletion | None] = [None] * 4

    async def one(i: int) -> None:
        results[i] = await hf.complete(requests[i], idle_timeout=30)

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    assert hf.generate_calls - before == 2  # one greedy batch, one sampled batch
    assert all(r is not None and text_of(r) for r in results)


async def test_bad_model_path_raises_local_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    provider = Transformers(missing)
    with pytest.raises(LocalModelError, match=re.escape(str(missing))) as info:
        await provider.complete(ask("hi"), idle_timeout=5)
    assert info.value.provider == "local-transformers"
    with pytest.raises(LocalModelError, match=re.escape(str(missing))):
        async for _ in provider.stream(ask("hi", stream=True), idle_timeout=5):
            pass


async def test_a_directory_without_a_model_raises_local_model_error(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match=re.escape(str(tmp_path))):
        await Transformers(tmp_path).complete(ask("hi"), idle_timeout=5)


async def test_a_caller_leaving_does_not_strand_the_rest_of_its_batch(hf: Transformers) -> None:
    first, second = (
        ask("Name a colour.", temperature=0, max_tokens=6),
        ask("Name a fruit.", temperature=0, max_tokens=6),
    )
    expected = text_of(await hf.complete(second, idle_timeout=30))
    before = hf.generate_calls
    got: list[str] = []

    async def leaver(scope: anyio.CancelScope) -> None:
        with scope:
            await hf.complete(first, idle_timeout=30)

    async def stayer() -> None:
        got.append(text_of(await hf.complete(second, idle_timeout=30)))

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(leaver, scope)
        tg.start_soon(stayer)
        while hf.generate_calls == before:  # the shared batch is running
            await anyio.lowlevel.checkpoint()
        scope.cancel()  # the first caller leaves mid-batch
        # A third caller cancelled before its window ends simply leaves the queue.
        with anyio.CancelScope() as quick:
            quick.cancel()
            await hf.complete(first, idle_timeout=30)
    assert got == [expected]
    assert hf.generate_calls == before + 1
