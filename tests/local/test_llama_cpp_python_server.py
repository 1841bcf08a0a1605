"""``python -m llama_cpp.server`` (llama-cpp-python's server, with the embedded model) as the
fallback of a primary that cuts its stream. That server takes an assistant prefill as a
finished turn and answers anew: its preset (``LlamaCppPythonServer``) does not declare prefix
completion, so the stream is restarted there; and a preset that wrongly declares it
(``LlamaCppServer`` pointed at it) has its continuation caught as a fresh answer, never
spliced on."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest

from deepseek_resilient import (
    Client,
    IncompleteStreamError,
    LlamaCppPythonServer,
    LlamaCppServer,
    Provider,
)
from deepseek_resilient._providers.local.embedded import embedded_model_path
from deepseek_resilient.testing import CutStream, FaultServer, server_provider

pytestmark = [pytest.mark.local, pytest.mark.timeout(180)]
pytest.importorskip("llama_cpp.server.app", reason="needs pip install 'llama-cpp-python[server]'")
QUESTION = [{"role": "user", "content": "Name three primary colors."}]
ASK = {"messages": QUESTION, "temperature": 0, "max_tokens": 24, "stream": True}


@pytest.fixture(scope="module")
def llama_cpp_server() -> Iterator[str]:
    """The real ``python -m llama_cpp.server`` on a free port (stopped after the module)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = str(embedded_model_path())
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
               "--port", str(port), "--n_threads", "1", "--n_ctx", "512"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:  # the server loads the model, then answers
            try:
                if httpx2.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert process.poll() is None, "llama_cpp.server exited"
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.25)  # allow-sleep: a subprocess starting up
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def reference(fallback: Provider) -> str:
    """The server's greedy answer, asked twice: the second time it reuses the prompt's cached
    state, as the restart that follows will (a near tie could otherwise flip a token)."""
    with Client([fallback], timeout=60) as client:
        for _ in range(2):
            stream = client.chat.completions.create(**ASK)  # type: ignore[call-overload]
            answer = stream.until_done().choices[0].message.content or ""
    return answer


def recovered(fallback: Provider, full: str) -> tuple[str, list[tuple[str, str | None]], object]:
    """A primary that cuts ``full`` after 3 words, then ``fallback``: the answer (or, when
    the restart's answer differs, the partial text of the ``IncompleteStreamError``) and the
    route."""
    with FaultServer(lifetime=60) as primary:
        primary.default = CutStream(after=3, content=full)
        with Client([server_provider(primary, "remote"), fallback], timeout=60) as client:
            stream = client.chat.completions.create(**ASK)  # type: ignore[call-overload]
            try:
                answer = stream.until_done().choices[0].message.content or ""
            except IncompleteStreamError as exc:
                answer = f"incomplete: {exc.partial}"
    return answer, [(a.provider, a.error) for a in stream.route.attempts], stream.route


def test_llama_cpp_python_server_as_the_fallback_restarts(llama_cpp_server: str) -> None:
    fallback = LlamaCppPythonServer(llama_cpp_server)
    assert not fallback.prefix_completion
    full = reference(fallback)
    assert len(full.split(" ")) > 4
    answer, attempts, route = recovered(fallback, full)
    assert answer == full  # the same greedy answer, the delivered part passed on once
    assert attempts[-1] == ("llama-cpp-python", None)
    assert [(r.how, r.provider) for r in route.recoveries] == [  # type: ignore[attr-defined]
        ("restart", "llama-cpp-python")
    ]


def test_a_preset_wrongly_declaring_prefix_completion_is_caught(llama_cpp_server: str) -> None:
    """``LlamaCppServer`` (llama.cpp's C++ server) pointed at llama-cpp-python's: the
    continuation it sends is a new answer; it is dropped and the stream restarted."""
    fallback = LlamaCppServer(llama_cpp_server)
    full = reference(fallback)
    answer, attempts, route = recovered(fallback, full)
    assert ("llama-server", "IgnoredPrefix") in attempts
    # Never the fresh answer after the delivered text: the whole answer (the restart repeated
    # it), or the error with exactly what was delivered (its greedy answer came out other).
    sent = "".join(w + " " for w in full.split(" ")[:3])
    assert answer in (full, f"incomplete: {sent}"), answer
    if answer == full:
        assert [r.how for r in route.recoveries] == ["restart"]  # type: ignore[attr-defined]
