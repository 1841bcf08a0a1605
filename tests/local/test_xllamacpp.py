"""The default llama.cpp engine, xllamacpp, with the real embedded SmolLM2-135M GGUF: engine
choice, continuous batching, cancellation, JSON-schema output, default sampling, the passive
OpenMP wait policy under a CPU hog, and which threads generate. The features both engines
share (completion, streaming, stop strings, max_tokens, bad paths) are in test_llama_cpp.py."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from _support import busiest_thread_share, cpu_ticks_by_thread, skip_if_openmp_waiting_was_chosen

from deepseek_resilient import ConfigurationError, LlamaCpp
from deepseek_resilient._models import ChatRequest
from deepseek_resilient._providers.local.omp import usable_cores

if importlib.util.find_spec("xllamacpp") is None:  # not imported: see LlamaCpp's OpenMP guard
    pytest.skip("xllamacpp is not installed", allow_module_level=True)
from deepseek_resilient._providers.local.xllamacpp_engine import XLlamaCpp

pytestmark = [pytest.mark.local, pytest.mark.anyio]
DECODES = "llamacpp:n_decode_total"
BUSY = "llamacpp:requests_processing"
LONG = "Count from 1 to 1000, one number per line."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # one event loop is enough here: these runs are slow on a busy machine


def ask(text: str, **params: object) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": text}], **params})


@pytest.fixture(scope="module")
def llama() -> Iterator[XLlamaCpp]:
    provider = LlamaCpp(warm=True, parallel=8)
    assert isinstance(provider, XLlamaCpp)
    yield provider
    anyio.run(provider.aclose)


@contextlib.asynccontextmanager
async def idle(llama: XLlamaCpp) -> AsyncIterator[None]:
    """Hold every slot of our limiter: entered only when no request of ours is running."""
    limiter = llama._limiter.get()
    borrowers = [object() for _ in range(llama.concurrency)]
    for borrower in borrowers:
        await limiter.acquire_on_behalf_of(borrower)
    try:
        yield
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)


async def assert_stopped(llama: XLlamaCpp, before: dict[str, float]) -> None:
    """The cancelled generation has ended: a later request finds nothing else running, and
    only a few tokens were decoded (the request asked for 400)."""
    async with idle(llama):
        pass
    # llama.cpp puts the cancellation ahead of this request in its queue.
    await llama.complete(ask("hi", max_tokens=1), idle_timeout=30)
    after = llama.metrics()
    assert after[BUSY] == 0
    assert after[DECODES] - before[DECODES] < 60


def test_the_default_engine_is_xllamacpp_and_a_bad_engine_is_a_clear_error() -> None:
    provider = LlamaCpp()
    assert isinstance(provider, XLlamaCpp) and isinstance(provider, LlamaCpp)
    assert provider.engine_name == "xllamacpp" and provider.concurrency == 8
    assert not provider.loaded  # lazy: nothing loads at construction
    with pytest.raises(ConfigurationError, match="'llama-cpp-python', 'xllamacpp'"):
        LlamaCpp(engine="vllm")
    with pytest.raises(ConfigurationError, match="parallel"):
        LlamaCpp(parallel=0)


async def test_closing_a_stream_stops_generation(llama: XLlamaCpp) -> None:
    before = llama.metrics()
    stream = llama.stream(ask(LONG, temperature=0, max_tokens=400, stream=True), idle_timeout=30)
    got = 0
    async for chunk in stream:
        got += chunk.has_content
        if got == 2:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    await assert_stopped(llama, before)


async def test_cancelling_complete_stops_generation(llama: XLlamaCpp) -> None:
    before = llama.metrics()
    limiter = llama._limiter.get()
    request = ask(LONG, temperature=0, max_tokens=400)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(llama.complete, request, idle_timeout=30))
            while limiter.borrowed_tokens == 0:  # the worker holds a slot
                await anyio.lowlevel.checkpoint()
            scope.cancel()
    await assert_stopped(llama, before)


async def test_eight_concurrent_requests_are_decoded_together(llama: XLlamaCpp) -> None:
    texts: list[str] = []
    before = llama.metrics()

    async def one(i: int) -> None:
        resp = await llama.complete(ask(f"Tell me a story about the number {i}.",
                                        max_tokens=16, seed=i), idle_timeout=60)  # fmt: skip
        assert resp.usage is not None
        texts.append(resp.choices[0].message.content or "")

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    after = llama.metrics()
    assert len(texts) == 8 and all(t.strip() for t in texts)
    # Continuous batching: far fewer decode steps than 8 x 16 tokens one at a time would take
    # (each request's prompt is one more step; one at a time is at least 8 x 17).
    assert after[DECODES] - before[DECODES] < 8 * 17 / 2


def _busiest_thread_share(provider: XLlamaCpp, *requests: ChatRequest) -> float:
    """The share of the CPU time of ``requests`` (run at once) that the busiest thread took.
    The engine generates on its own threads, which live as long as it does."""

    async def run() -> float:
        before = cpu_ticks_by_thread()
        async with anyio.create_task_group() as tg:
            for request in requests:
                tg.start_soon(functools.partial(provider.complete, request, idle_timeout=120))
        return busiest_thread_share(before)

    return anyio.run(run)


def _default_waiting(llama: XLlamaCpp) -> None:
    if not Path("/proc/self/task").is_dir():
        pytest.skip("reads Linux's /proc")
    if usable_cores() < 2:
        pytest.skip("needs 2 cores")
    assert llama.loaded
    skip_if_openmp_waiting_was_chosen()


def test_one_thread_generates_a_small_model_while_threads_sleep_at_barriers(
    llama: XLlamaCpp,
) -> None:
    # Passive waiting costs a wake-up at each of a token's hundreds of barriers, so a small
    # model generates on one thread (1.3-1.9 times faster on 2 cores); two threads split it.
    _default_waiting(llama)
    story = ask("Write a long story about a dragon who learns to fly.", temperature=0,
                max_tokens=80, extra_body={"ignore_eos": True})  # fmt: skip
    assert _busiest_thread_share(llama, story) >= 0.75  # measured 0.89-0.91
    two = LlamaCpp(n_threads=2, parallel=1, warm=True)
    try:
        assert _busiest_thread_share(two, story) < 0.75  # measured 0.50-0.53
    finally:
        anyio.run(two.aclose)


def test_requests_decoded_together_use_more_than_one_thread(llama: XLlamaCpp) -> None:
    # Steps of several tokens keep every core (measured on 2 cores: 8 at once 130 tok/s,
    # against 90 when they too ran on one thread).
    _default_waiting(llama)
    eight = [ask(f"Write a long story about {i}.", temperature=0, max_tokens=32) for i in range(8)]
    assert _busiest_thread_share(llama, *eight) < 0.75


async def test_json_schema_constrains_the_answer(llama: XLlamaCpp) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    resp = await llama.complete(
        ask("Describe a person.", temperature=0, max_tokens=60, response_format=fmt),
        idle_timeout=30,
    )
    person = json.loads(resp.choices[0].message.content or "")
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


async def test_an_assistant_prefix_is_continued_not_repeated(llama: XLlamaCpp) -> None:
    question = [{"role": "user", "content": "Name three colours."}]
    whole = await llama.complete(
        ChatRequest.model_validate({"messages": question, "temperature": 0, "max_tokens": 16}),
        idle_timeout=30,
    )
    full = whole.choices[0].message.content or ""
    head = " ".join(full.split(" ")[:3]) + " "  # ends with a space, as a cut stream may
    prefixed = [*question, {"role": "assistant", "content": head, "prefix": True}]
    request = ChatRequest.model_validate(
        {"messages": prefixed, "temperature": 0, "max_tokens": 8, "stream": True}
    )
    chunks = [c async for c in llama.stream(request, idle_timeout=30)]
    rest = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert rest and not rest.startswith(head.strip()) and not rest.startswith(" ")
    assert rest.split()[0] == full[len(head) :].split()[0]


def _loops(text: str) -> bool:
    """The same three words appear three times or more."""
    words = text.lower().split()
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return any(grams.count(g) >= 3 for g in set(grams))


@pytest.mark.timeout(300)
async def test_default_sampling_keeps_the_tiny_model_from_looping(llama: XLlamaCpp) -> None:
    for seed in (1, 2):
        resp = await llama.complete(ask("Write a haiku about retries", seed=seed), idle_timeout=60)
        text = resp.choices[0].message.content or ""
        assert text.strip() and not _loops(text), text
        assert resp.usage is not None and resp.usage.completion_tokens <= 256


_HOG = "import sys; print('ready', flush=True)\nwhile True: pass"
_CHILD = """
import json, os, time
from deepseek_resilient import LlamaCpp
from deepseek_resilient._models import ChatRequest
import anyio
async def main():
    p = LlamaCpp(parallel=1)
    req = ChatRequest.model_validate({"messages": [{"role": "user", "content": "Say hi."}],
                                      "max_tokens": 16, "temperature": 0})
    resp = await p.complete(req, idle_timeout=60)
    print(json.dumps({"policy": os.environ.get("OMP_WAIT_POLICY"),
                      "spin": os.environ.get("GOMP_SPINCOUNT"),
                      "tokens": resp.usage.completion_tokens}))
anyio.run(main)
"""


def _answer_under_hog(env: dict[str, str]) -> dict[str, object]:
    hogs = [subprocess.Popen([sys.executable, "-c", _HOG], stdout=subprocess.PIPE, text=True)
            for _ in range(os.cpu_count() or 2)]  # fmt: skip
    try:
        for hog in hogs:  # every hog is spinning before the engine starts
            assert hog.stdout is not None and hog.stdout.readline().strip() == "ready"
        out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                             text=True, timeout=180, stdin=subprocess.DEVNULL)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


_OPENMP = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _without_openmp_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _OPENMP}


def test_a_passive_openmp_wait_policy_is_set_before_the_engine_loads_under_a_cpu_hog() -> None:
    result = _answer_under_hog(_without_openmp_settings())
    assert result["policy"] == "PASSIVE" and result["spin"] is None
    assert isinstance(result["tokens"], int) and result["tokens"] > 0


@pytest.mark.parametrize("setting", [{"OMP_WAIT_POLICY": "ACTIVE"},
                                     {"GOMP_SPINCOUNT": "3000"}])  # fmt: skip
def test_an_openmp_setting_the_user_made_is_kept(setting: dict[str, str]) -> None:
    env = {**_without_openmp_settings(), **setting}
    out = subprocess.run(
        [sys.executable, "-c", "import json; from deepseek_resilient._providers.local.omp "
         "import passive_openmp; print(json.dumps(passive_openmp()))"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == setting


def test_an_engine_imported_before_the_policy_is_set_is_a_warning(tmp_path: Path) -> None:
    # No model is started (the path does not exist): the check runs before the load, and an
    # engine with spinning threads must not slow this test down on a busy machine.
    env = _without_openmp_settings()
    child = ("import warnings, xllamacpp; from deepseek_resilient import LlamaCpp\n"
             "with warnings.catch_warnings(record=True) as seen:\n"
             "    warnings.simplefilter('always')\n"
             "    try:\n"
             f"        LlamaCpp({str(tmp_path / 'none.gguf')!r}, warm=True)\n"
             "    except Exception as exc:\n"
             "        assert 'not found' in str(exc), exc\n"
             "print([str(w.message) for w in seen if w.category is RuntimeWarning])")  # fmt: skip

    def run(code: str) -> str:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip()

    assert "xllamacpp was imported before OMP_WAIT_POLICY=PASSIVE" in run(child)
    assert run(child.replace("xllamacpp;", "os;")) == "[]"
