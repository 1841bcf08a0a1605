"""The examples in examples/ run as documented (offline, against loopback servers)."""

from __future__ import annotations

import os
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


def _without(module: str, tmp_path: Path) -> dict[str, str]:
    """An environment where ``import module`` fails, as when its extra is not installed."""
    stub = tmp_path / module
    stub.mkdir()
    (stub / "__init__.py").write_text(f"raise ImportError('{module} is not installed')\n")
    root = str(EXAMPLES.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), root])}


@pytest.mark.parametrize(
    ("example", "missing", "command"),
    [
        ("shared_state.py", "redis", "pip install 'deepseek-resilient[redis]'"),
        ("monitoring/chaos_chart.py", "matplotlib", "pip install 'deepseek-resilient[bench]'"),
    ],
)
def test_an_example_names_its_extra_first_and_fails_fast_without_it(
    example: str, missing: str, command: str, tmp_path: Path
) -> None:
    source = (EXAMPLES / example).read_text()
    assert command in "\n".join(source.splitlines()[:3])  # named in its first lines
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / example), "--out", str(tmp_path / "x.png")]
        if "chart" in example
        else [sys.executable, str(EXAMPLES / example)],
        capture_output=True, text=True, timeout=60, env=_without(missing, tmp_path),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode != 0
    assert command in done.stderr and "Traceback" not in done.stderr
    assert "upstream calls" not in done.stdout  # it stopped before doing anything


def test_every_example_names_what_it_needs_in_its_first_lines() -> None:
    for path in EXAMPLES.rglob("*.py"):
        if "sample_app" in path.parts:
            continue
        head = "\n".join(path.read_text().splitlines()[:3])
        assert "Needs" in head, path
