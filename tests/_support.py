"""Shared helpers for the test suite (not fixtures: those live in conftest.py)."""

from __future__ import annotations

import importlib.util

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
