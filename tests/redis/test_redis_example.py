"""examples/shared_state.py runs as documented (two processes, one Redis, offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deepseek_resilient.testing import RedisServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shared_state.py"


def test_shared_state_example(redis_server: RedisServer) -> None:  # skips without a binary
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "upstream calls for 6 requests from 2 processes: 2" in done.stdout
    assert done.stdout.count("(hit)") >= 2  # the repeated question, in both processes
