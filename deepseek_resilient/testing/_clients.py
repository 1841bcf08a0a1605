"""Ready-made clients for tests: retries on, attempts capped, and no real sleeping.

with FaultServer() as server, testing_client(server) as client:
    server.script(Status(503), Status(503), Ok("hi"))
    assert client.chat.completions.create(messages=[...]).choices[0].message.content == "hi"
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from .._client import AsyncClient, Client
from .._core.clock import Clock
from .._core.config import Retry
from .._providers.base import Provider
from .._providers.http.openai_compat import OpenAICompatible
from ._clock import InstantClock
from ._server import FaultServer

__all__ = [
    "TESTING_API_KEY",
    "TESTING_RETRY",
    "server_provider",
    "testing_async_client",
    "testing_client",
]

TESTING_RETRY = Retry(attempts=3, base=0.0, cap=0.001, max_retry_after=30.0)
"""Three tries per provider with zero backoff. Retry-After hints up to 30 s are still
honoured, on the test client's ``InstantClock``, so they cost no real time."""

TESTING_API_KEY = "sk-test-not-a-real-key"


def server_provider(
    server: FaultServer, name: str = "llm_server", **options: Any
) -> OpenAICompatible:
    """An ``OpenAICompatible`` provider pointed at ``server`` (model ``test-model``, a dummy
    key). ``options`` go to ``OpenAICompatible`` (``attempt_timeout=``, ``retry=``, ...)."""
    options.setdefault("model", "test-model")
    options.setdefault("api_key", TESTING_API_KEY)
    return OpenAICompatible(name=name, base_url=server.base_url, **options)


def _providers(targets: tuple[Provider | FaultServer, ...]) -> list[Provider]:
    if not targets:
        raise TypeError("pass at least one FaultServer or Provider")
    out: list[Provider] = []
    for i, target in enumerate(targets):
        if isinstance(target, FaultServer):
            out.append(server_provider(target, "llm_server" if i == 0 else f"llm_server_{i + 1}"))
        elif isinstance(target, Provider):
            out.append(target)
        else:
            raise TypeError(f"expected a FaultServer or a Provider, got {type(target).__name__}")
    return out


def _options(
    timeout: float, retry: Retry | None, clock: Clock | None, **more: Any
) -> dict[str, Any]:
    return {
        "timeout": timeout,
        "retry": retry or TESTING_RETRY,
        "clock": clock if clock is not None else InstantClock(),
        **more,
    }


@contextmanager
def testing_client(
    *targets: Provider | FaultServer,
    timeout: float = 10.0,
    retry: Retry | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> Iterator[Client]:
    """A ``Client`` over ``targets`` in priority order (a ``FaultServer`` becomes a provider
    named ``llm_server``, then ``llm_server_2``, ...), in testing mode: ``TESTING_RETRY`` and
    an ``InstantClock`` unless given. ``options`` go to ``Client``. Closed on exit."""
    client = Client(_providers(targets), **_options(timeout, retry, clock, **options))
    try:
        yield client
    finally:
        client.close()


@asynccontextmanager
async def testing_async_client(
    *targets: Provider | FaultServer,
    timeout: float = 10.0,
    retry: Retry | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> AsyncIterator[AsyncClient]:
    """The ``AsyncClient`` twin of ``testing_client``."""
    client = AsyncClient(_providers(targets), **_options(timeout, retry, clock, **options))
    try:
        yield client
    finally:
        await client.aclose()


# Their names start with "test": keep pytest from collecting them when a test module imports them.
testing_client.__test__ = False  # type: ignore[attr-defined]
testing_async_client.__test__ = False  # type: ignore[attr-defined]
