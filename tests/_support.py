"""Shared helpers for the test suite (not fixtures: those live in conftest.py)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

import pytest

from deepseek_resilient import OpenAICompatible, Retry

FAST_RETRY = Retry(attempts=3, base=0.001, cap=0.01)
USER = [{"role": "user", "content": "Hi"}]
SECRET = "sk-test-SECRET-123"


def http_provider(base_url: str, name: str = "primary", **options: object) -> OpenAICompatible:
    return OpenAICompatible(name=name, base_url=base_url, model="m", api_key=SECRET, **options)  # type: ignore[arg-type]


def need(module: str) -> None:
    """Skip unless ``module`` is installed, without importing it: an engine's import loads its
    OpenMP runtime, which must not happen before the provider sets the passive wait policy."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


def cpu_ticks_by_thread() -> dict[str, int]:
    """User + system CPU ticks of each thread of this process (Linux's /proc)."""
    ticks = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            ticks[task.name] = int(fields[11]) + int(fields[12])
    return ticks


def busiest_thread_share(before: dict[str, int]) -> float:
    """The share of the CPU time spent since ``before`` that the busiest thread took."""
    after = cpu_ticks_by_thread()
    spent = [after[t] - before.get(t, 0) for t in after]
    assert sum(spent) >= 20, "too little CPU time to tell the threads apart"
    return max(spent) / sum(spent)


def skip_if_openmp_waiting_was_chosen() -> None:
    """Skip unless the engine's OpenMP threads sleep at once (the guard's default): call it
    after the engine loaded, when the guard has set the policy unless the environment had."""
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE" or "GOMP_SPINCOUNT" in os.environ:
        pytest.skip("the environment chose how OpenMP threads wait")
