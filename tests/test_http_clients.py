"""``http_client=`` takes what openai-python's clients take: an ``httpx2`` or ``httpx`` client,
async or sync (a sync one sends on worker threads). The caller's client keeps its settings
(default headers, event hooks), its failures arrive as our errors, and a deadline still
holds while a worker thread waits on a silent server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from _support import USER, http_provider

from deepseek_resilient import (
    APIConnectionError,
    AsyncClient,
    Client,
    ConfigurationError,
    DeadlineExceeded,
    OpenAICompatible,
    RateLimitError,
)
from deepseek_resilient.testing import FaultServer, InstantClock, Ok, Reset, Stall, Status

httpx = pytest.importorskip("httpx")

Seen = list[str]


def _sync_hook(seen: Seen) -> Callable[[Any], None]:
    def hook(request: Any) -> None:
        seen.append(str(request.url))

    return hook


def _async_hook(seen: Seen) -> Callable[[Any], Any]:
    async def hook(request: Any) -> None:
        seen.append(str(request.url))

    return hook


def _make(kind: str, seen: Seen, **options: Any) -> Any:
    """A caller's client of ``kind`` with a default header and a request hook."""
    library = httpx2 if kind.startswith("httpx2") else httpx
    hook = _async_hook(seen) if "Async" in kind else _sync_hook(seen)
    cls = library.AsyncClient if "Async" in kind else library.Client
    return cls(headers={"X-From-Client": kind}, event_hooks={"request": [hook]}, **options)


KINDS = ["httpx2.AsyncClient", "httpx.AsyncClient", "httpx2.Client", "httpx.Client"]


@pytest.fixture(params=KINDS)
def caller_http(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Seen]]:
    seen: Seen = []
    http = _make(str(request.param), seen)
    yield http, seen
    if isinstance(http, (httpx2.Client, httpx.Client)):
        http.close()
    # async clients: closed by the test that used them (inside its event loop)


@pytest.mark.parametrize("stream", [False, True])
def test_sync_client_sends_through_the_callers_client(
    llm_server: FaultServer, caller_http: tuple[Any, Seen], stream: bool
) -> None:
    http, seen = caller_http
    llm_server.default = Ok("hello")
    provider = http_provider(llm_server.base_url, http_client=http)
    with Client([provider], clock=InstantClock()) as client:
        if stream:
            with client.chat.completions.create(messages=USER, stream=True) as chunks:
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            text = client.chat.completions.create(messages=USER).choices[0].message.content or ""
        if not isinstance(http, (httpx2.Client, httpx.Client)):
            client._run(http.aclose)  # an async client closes on the loop that used it
    assert text == "hello"
    (request,) = llm_server.requests
    assert request.headers["x-from-client"].endswith(type(http).__name__)  # its own header
    assert request.headers["authorization"] == "<redacted>"  # ours, per request
    assert request.headers["accept"] == ("text/event-stream" if stream else "application/json")
    assert len(seen) == 1 and seen[0].endswith("/chat/completions")  # its hooks ran


@pytest.mark.anyio
async def test_async_client_sends_through_the_callers_client(
    llm_server: FaultServer, caller_http: tuple[Any, Seen]
) -> None:
    http, seen = caller_http
    llm_server.script(Status(429, retry_after=1), Ok("after the 429"))
    provider = http_provider(llm_server.base_url, http_client=http)
    async with AsyncClient([provider], clock=InstantClock()) as client:
        resp = await client.chat.completions.create(messages=USER)
    if not isinstance(http, (httpx2.Client, httpx.Client)):
        await http.aclose()
    assert resp.choices[0].message.content == "after the 429"
    assert len(seen) == 2 and llm_server.calls == 2


@pytest.mark.anyio
async def test_failures_arrive_as_our_errors(
    llm_server: FaultServer, caller_http: tuple[Any, Seen]
) -> None:
    http, _ = caller_http
    provider = http_provider(llm_server.base_url, http_client=http)
    async with AsyncClient([provider], clock=InstantClock(), breaker=None) as client:
        llm_server.default = Status(429, retry_after=99)
        with pytest.raises(RateLimitError) as limited:
            await client.chat.completions.create(messages=USER)
        llm_server.default = Reset()
        with pytest.raises(APIConnectionError) as reset:
            await client.chat.completions.create(messages=USER, stream=True)
    if not isinstance(http, (httpx2.Client, httpx.Client)):
        await http.aclose()
    assert limited.value.retry_after == 99
    for exc in (limited.value, reset.value):
        assert type(exc).__module__.startswith("deepseek_resilient")


@pytest.mark.parametrize("kind", ["httpx2.Client", "httpx.Client"])
def test_a_deadline_holds_while_a_worker_thread_reads(llm_server: FaultServer, kind: str) -> None:
    # The server keeps the body going (a keep-alive every 50 ms for 30 s): only the deadline
    # ends the call. The worker thread is left reading; it closes the response at its next
    # piece, giving the client's only connection back for the next call.
    llm_server.script(Stall(seconds=30, interval=0.05))
    llm_server.default = Ok("fresh")
    library = httpx2 if kind.startswith("httpx2") else httpx
    limits = library.Limits(max_connections=1, max_keepalive_connections=1)
    with _make(kind, [], limits=limits) as http:
        provider = http_provider(llm_server.base_url, http_client=http, read_timeout=30)
        with Client([provider], timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.chat.completions.create(messages=USER)
            assert time.monotonic() - started < 10  # the deadline, not the 30 s stall
            resp = client.chat.completions.create(messages=USER, timeout=20)
    assert resp.choices[0].message.content == "fresh"


@pytest.mark.parametrize("wrong", [object(), "http://proxy:8080", httpx2.AsyncHTTPTransport()])
def test_anything_else_is_a_configuration_error(wrong: object) -> None:
    with pytest.raises(ConfigurationError, match=r"http_client must be an httpx2\.AsyncClient"):
        OpenAICompatible(base_url="http://127.0.0.1:9/v1", model="m", http_client=wrong)
