"""``python -m deepseek_resilient.testing`` runs on its own: not tied to stdin, stopped by
SIGTERM or Ctrl-C or ``--max-seconds``, and ``--help`` says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "deepseek_resilient.testing"]


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*COMMAND, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _ask(base_url: str) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx2.post(f"{base_url}/chat/completions", json=body, timeout=30)
    return str(resp.json()["choices"][0]["message"]["content"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_with_stdin_closed_until_a_signal(sig: signal.Signals) -> None:
    proc, base_url = _start("--content", "still here")
    try:
        assert base_url.startswith("http://127.0.0.1:")
        # stdin is at EOF from the start: the server is still answering.
        assert _ask(base_url) == "still here"
        assert _ask(base_url) == "still here"
        assert proc.poll() is None
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert proc.stderr is not None and "stopped" in proc.stderr.read()


def test_max_seconds_stops_it() -> None:
    proc, base_url = _start("--max-seconds", "1")
    try:
        assert _ask(base_url)
        assert proc.wait(timeout=60) == 0  # on its own, at the end of its time
    finally:
        proc.kill()
        proc.wait()


def test_help_says_how_it_stops() -> None:
    out = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         check=True)  # fmt: skip
    text = " ".join(out.stdout.split())
    assert "SIGTERM" in text and "Ctrl-C" in text and "--max-seconds" in text
    assert "Standard input is not read" in text
