"""Shared benchmark plumbing: a server in its own process, CPU timing, medians."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import anyio


@contextmanager
def server_process(lifetime: float = 900.0) -> Iterator[str]:
    """The fault-injecting server in a separate process (loopback, bounded lifetime)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepseek_resilient.testing", "--lifetime", str(lifetime)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def run_concurrently(n: int, concurrency: int, one: Callable[[], Awaitable[object]]) -> None:
    """Run ``one`` n times with at most ``concurrency`` in flight."""
    limiter = anyio.Semaphore(concurrency)

    async def task() -> None:
        async with limiter:
            await one()

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(task)


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) of fn()."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def median(values: list[float]) -> float:
    return statistics.median(values)
