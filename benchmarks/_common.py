"""Shared benchmark plumbing: the server in its own process, timing, medians, results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
"""The repository root (holds ``deepseek_resilient/`` and ``benchmarks/``)."""


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child interpreter: this checkout importable, LiteLLM offline."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.update(extra)
    return env


class BenchServer:
    """The benchmark server (``benchmarks._server``) running in a child process.

    Its answer depends on the request's ``model``: ``ok``, ``slow`` (0.25 s latency),
    ``down`` (HTTP 503), ``stall`` (a blank line every 0.5 s, never an answer)."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str) -> None:
        self._proc = proc
        self.base_url = base_url

    def counts(self) -> dict[str, int]:
        """Requests received so far, per model."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("counts\n")
        self._proc.stdin.flush()
        return dict(json.loads(self._proc.stdout.readline()))


@contextmanager
def server_process(lifetime: float = 1800.0) -> Iterator[BenchServer]:
    """Start the benchmark server in its own process (127.0.0.1, ephemeral port). It stops
    when this block ends (stdin closes) or after ``lifetime`` seconds, whichever is first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server", "--lifetime", str(lifetime)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"benchmark server did not start: {base_url!r}")
        yield BenchServer(proc, base_url)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_concurrently(
    n: int, concurrency: int, one: Callable[[int], Awaitable[object]]
) -> None:
    """Run ``one(i)`` for i in range(n) with at most ``concurrency`` in flight."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(i)

    async with anyio.create_task_group() as tg:
        for _ in range(min(n, concurrency)):
            tg.start_soon(worker)


class Stopwatch:
    """Process CPU time (all threads) and wall time of a block."""

    cpu: float = 0.0
    wall: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def median(values: list[float]) -> float:
    return statistics.median(values)


def run_json(args: list[str], timeout: float = 600.0) -> dict[str, Any]:
    """Run ``python args...`` in a fresh interpreter; its last stdout line is JSON."""
    out = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def installed(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------------------- results


@dataclass
class Target:
    """One ratio (or figure) the issue sets a target for."""

    name: str
    value: float | None
    target: str
    met: bool | None
    shown: str = ""
    """How to print the value (e.g. ``1.07 x``)."""


@dataclass
class Section:
    """One benchmark's outcome: how it was measured, a table, and its targets."""

    title: str
    method: str
    header: list[str]
    rows: list[list[str]]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """A plain-text rendering for the terminal."""
        widths = [
            max(len(str(r[i])) for r in [self.header, *self.rows]) for i in range(len(self.header))
        ]
        lines = [
            f"== {self.title}",
            "  ".join(h.ljust(w) for h, w in zip(self.header, widths, strict=True)),
        ]
        lines += [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in self.rows
        ]
        for t in self.targets:
            lines.append(f"  {t.name}: {t.shown}  (target {t.target}: {verdict(t.met)})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def skipped(title: str, why: str) -> Section:
    return Section(title=title, method="", header=["skipped"], rows=[[why]], notes=[why])


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[met]


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def machine_info() -> dict[str, str]:
    """CPU, cores, OS, Python and the versions of the packages measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{d} {v}"
        for d in (
            "httpx2",
            "httpx",
            "anyio",
            "pydantic",
            "openai",
            "litellm",
            "llama_cpp_python",
            "torch",
            "transformers",
        )
        if (v := installed(d))
    )
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "load": load,
    }
