"""``deepseek-resilient batch --resume`` after SIGKILL of a real subprocess: every custom_id is
written exactly once, nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deepseek_resilient.testing import Echo, FaultServer

from ._files import id_counts, numbered

LINES = 300


def _config(tmp_path: Path, server: FaultServer) -> Path:
    path = tmp_path / "batch.toml"
    path.write_text(
        f"""
timeout = 30
[[providers]]
type = "openai_compatible"
name = "mock"
base_url = "{server.base_url}"
api_key = "sk-test-not-a-real-key"
model = "test-model"
[providers.rate_limit]
requests_per_second = 60
""",
        encoding="utf-8",
    )
    return path


def _command(config: Path, requests: Path, out: Path, *extra: str) -> list[str]:
    cli = [sys.executable, "-m", "deepseek_resilient.cli", "batch", "--config", str(config)]
    return [*cli, str(requests), "-o", str(out), "--concurrency", "16", *extra]


def _wait_for_lines(out: Path, proc: subprocess.Popen[bytes], n: int) -> None:
    """Block until ``out`` holds ``n`` lines (the subprocess is mid-run), bounded."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError("no progress from the batch subprocess")


def test_resume_after_sigkill_writes_each_custom_id_once(
    tmp_path: Path, llm_server: FaultServer
) -> None:
    llm_server.rule = Echo()
    requests = numbered(tmp_path / "in.jsonl", LINES)
    out = tmp_path / "out.jsonl"
    config = _config(tmp_path, llm_server)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(
        _command(config, requests, out), env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        _wait_for_lines(out, first, 40)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    written_before = id_counts(out)
    assert 40 <= sum(written_before.values()) < LINES
    assert set(written_before.values()) == {1}
    second = subprocess.run(
        _command(config, requests, out, "--resume"), env=env, capture_output=True, timeout=120
    )
    assert second.returncode == 0, second.stderr.decode()
    counts = id_counts(out)
    assert set(counts) == {f"req-{i}" for i in range(LINES)}
    assert set(counts.values()) == {1}
    summary = second.stderr.decode().strip().splitlines()[-1]
    assert f"{sum(written_before.values())} already done" in summary
    # Only lines in flight at the kill were sent twice.
    assert LINES <= llm_server.calls <= LINES + 16
