"""The examples in examples/ run as documented (offline, against loopback servers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_streaming_example() -> None:
    out = run("streaming.py")
    assert "answered by backup" in out and "primary: FirstTokenTimeoutError" in out
    assert "Recovered streams never repeat a word and never stop short.\n" in out
    assert "restart on primary at char 24 after APIConnectionError" in out


@pytest.mark.local
def test_failover_example() -> None:
    out = run("failover.py")
    assert out.count("answered by local") == 3 and "deepseek: APITimeoutError" in out
    assert "ServiceUnavailableError x2, RateLimitError" in out
    assert "deepseek: RateLimitedLocally" in out


def test_load_balancing_example() -> None:
    out = run("load_balancing.py")
    assert "split: {'key1': 10, 'key2': 6, 'backup-host': 4}" in out
    assert "order: 1 2 h 1 1 2 1 h 2 1" in out
    assert "answered by key2 (tier1)" in out or "answered by backup-host (tier1)" in out
    assert "hedged" in out and "('key1', 'cancelled')" in out


def test_batch_and_queue_example() -> None:
    out = run("batch_and_queue.py")
    assert "batch finished: 100 answered, 0 failed" in out
    assert "first result: t" in out and " 200" in out
    assert "queue: done - answer to: summarise ticket 7" in out
