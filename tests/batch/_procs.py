"""Worker subprocesses for the queue tests: the real ``deepseek-resilient worker`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deepseek_resilient.testing import FaultServer


def config_for(tmp_path: Path, server: FaultServer) -> Path:
    path = tmp_path / "worker.toml"
    path.write_text(
        f"""
timeout = 60
breaker = false
[retry]
attempts = 1
[[providers]]
type = "openai_compatible"
name = "mock"
base_url = "{server.base_url}"
api_key = "sk-test-not-a-real-key"
model = "test-model"
""",
        encoding="utf-8",
    )
    return path


def start_worker(config: Path, queue_url: str, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "deepseek_resilient.cli", "worker", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [*command, "--queue", queue_url, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    """Block until ``condition()`` (the subprocess is mid-job), bounded at 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.02)
    raise AssertionError("the worker never got there")
