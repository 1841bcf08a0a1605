"""The sync facade: many threads share one Client; Ctrl-C cancels the call."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from _support import FAST_RETRY, USER, http_provider

from deepseek_resilient import ChatRequest, Client, ConfigurationError, ServiceUnavailableError
from deepseek_resilient.testing import FakeProvider, FaultServer, Status


def test_eight_threads_share_one_client(llm_server: FaultServer) -> None:
    seen: set[str] = set()

    def first_try_fails(i: int, body: dict | None) -> Status | None:  # type: ignore[type-arg]
        text = str(body)
        if text in seen:
            return None
        seen.add(text)
        return Status(503)

    llm_server.rule = first_try_fails
    client = Client([http_provider(llm_server.base_url)], retry=FAST_RETRY, breaker=None)
    with client:

        def work(n: int) -> list[str]:
            out = []
            for i in range(10):
                msgs = [{"role": "user", "content": f"thread {n} call {i}"}]
                resp = client.chat.completions.create(messages=msgs)
                out.append(resp.choices[0].message.content or "")
            return out

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(8)))
    assert sum(len(r) for r in results) == 80 and all(all(x) for x in results)
    assert llm_server.calls == 160


class Blocking(FakeProvider):
    """Hangs until cancelled and says so."""

    def __init__(self) -> None:
        super().__init__("blocking")
        self.entered = threading.Event()
        self.cancelled = threading.Event()

    async def complete(self, request: ChatRequest, *, idle_timeout: float):  # type: ignore[no-untyped-def]
        self.entered.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.cancelled.set()


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raising KeyboardInterrupt, as in an interactive run, even when this process
    started with SIGINT ignored (a background job, ``(trap '' INT; pytest ...)``)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_raises")
def test_ctrl_c_cancels_the_sync_call() -> None:
    provider = Blocking()
    main = threading.get_ident()

    def interrupt() -> None:
        if provider.entered.wait(5):
            signal.pthread_kill(main, signal.SIGINT)

    with Client([provider], timeout=30) as client:
        t = threading.Thread(target=interrupt)
        t.start()
        with pytest.raises(KeyboardInterrupt):
            client.chat.completions.create(messages=USER)
        t.join()
        assert provider.cancelled.wait(5), "the call kept running on the loop"
        # the client still works after an interrupted call
        provider.entered.clear()


def test_sync_errors_are_typed_and_close_is_idempotent() -> None:
    client = Client([FakeProvider("p", [ServiceUnavailableError("busy", status_code=503)])])
    resp = client.chat.completions.create(messages=USER)
    assert resp.route is not None and resp.route.provider == "p"
    assert "Client(providers=[p]" in repr(client)
    client.close()
    client.close()
    with pytest.raises(ConfigurationError, match="closed"):
        client.chat.completions.create(messages=USER)


def test_a_client_never_closed_does_not_hang_the_interpreter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    script = tmp_path / "forgot_close.py"
    script.write_text(
        "from deepseek_resilient import Client\n"
        "from deepseek_resilient.testing import FakeProvider\n"
        "c = Client([FakeProvider()])\n"
        "print(c.chat.completions.create(messages=[{'role': 'user', 'content': 'x'}])"
        ".choices[0].message.content)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "fake answer"


def test_a_dropped_client_stops_its_loop_thread() -> None:
    import gc

    client = Client([FakeProvider()])
    thread = client._loop._thread
    del client
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()
