"""pytest fixtures for testing code that uses deepseek_resilient (a ``pytest11`` plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._clock import FakeClock
from ._server import FaultServer


@pytest.fixture
def llm_server() -> Iterator[FaultServer]:
    """A running fault-injecting OpenAI-compatible server on 127.0.0.1 (stops after the test)."""
    with FaultServer(lifetime=300.0) as server:
        yield server


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when told (or when a policy sleeps on it)."""
    return FakeClock()
