"""Real agent frameworks over the drop-in, against the test server: each test runs twice,
once with a healthy endpoint and once with a dead one (every request 503), where the
``backup`` provider answers. The server's ``Agent`` rule answers tool calls and
``response_format`` from their schemas, as a model would.

The frameworks are not dependencies of the library: CI installs them (see docs/openai-compat.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deepseek_resilient import AsyncOpenAI, OpenAI, OpenAICompatible, route_of
from deepseek_resilient.testing import Agent, FaultServer, InstantClock, Status


@pytest.fixture(scope="module")
def model_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=300, rule=Agent(text="answer: ")) as server:
        yield server


@pytest.fixture(scope="module")
def dead_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=300, default=Status(503)) as server:
        yield server


@pytest.fixture(params=["healthy", "dead-primary"])
def primary(
    request: pytest.FixtureRequest, model_server: FaultServer, dead_server: FaultServer
) -> str:
    """Which endpoint the caller's client points at."""
    return str(request.param)


def _options(primary: str, model_server: FaultServer, dead_server: FaultServer) -> dict[str, Any]:
    if primary == "healthy":
        return {"base_url": model_server.base_url, "providers": []}
    backup = OpenAICompatible(
        name="backup", base_url=model_server.base_url, model="backup-model", api_key="k"
    )
    return {"base_url": dead_server.base_url, "providers": [backup]}


@pytest.fixture
def clients(
    primary: str, model_server: FaultServer, dead_server: FaultServer
) -> Iterator[tuple[OpenAI, AsyncOpenAI]]:
    """A sync and an async drop-in client (breakers off, so every test sees the failover)."""
    common: dict[str, Any] = {"api_key": "sk-test", "local": False, "max_retries": 0,
                              "clock": InstantClock(), "breaker": None}  # fmt: skip
    sync = OpenAI(**common, **_options(primary, model_server, dead_server))
    asynchronous = AsyncOpenAI(**common, **_options(primary, model_server, dead_server))
    dead_before, seen_before = dead_server.calls, model_server.calls
    yield sync, asynchronous
    sync.close()
    # Who answered: with a dead primary, every request tried it first, then the backup
    # (asked with its own model) answered.
    answered = model_server.requests[seen_before:]
    assert answered, "the framework sent no chat request"
    models = {(r.body or {}).get("model") for r in answered}
    if primary == "healthy":
        assert dead_server.calls == dead_before and "backup-model" not in models
    else:
        assert dead_server.calls - dead_before == len(answered) and models == {"backup-model"}


@pytest.fixture
def answered_by(primary: str) -> Callable[[Any], None]:
    """Checks who answered a raw response or completion, when it carries the route."""

    def check(obj: Any) -> None:
        route = route_of(obj)
        assert route is not None
        assert route.provider == ("openai" if primary == "healthy" else "backup")

    return check


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


#: The frameworks that must run under each openai major version (the dev extra installs the
#: first set; tests/frameworks/openai2.sh the second): a listed framework whose test module
#: skips fails instead, so CI never passes by skipping one.
REQUIRED = {
    3: {"langchain", "openai_agents", "pydantic_ai"},
    2: {"instructor", "llama_index", "langchain", "openai_agents"},
}


def _required() -> set[str]:
    listed = os.environ.get("DEEPSEEK_RESILIENT_REQUIRE_FRAMEWORKS")
    if listed is not None:
        return {n for n in listed.split(",") if n}
    import openai

    return REQUIRED.get(int(openai.__version__.split(".")[0]), set())


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    name = Path(str(report.nodeid)).stem.removeprefix("test_")
    if report.skipped and name in _required():
        report.outcome = "failed"
        report.longrepr = f"{name} must run here, but its tests were skipped: {report.longrepr}"
