"""The client's disk cache stores answers in batches: another process sharing the directory
sees an answer once its batch is written, by a timer on the client's loop when nothing else
writes it, and a batch still queued when the interpreter exits is written then."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from deepseek_resilient import AsyncClient, Cache, ResponseCache
from deepseek_resilient._state import _later
from deepseek_resilient.testing import FakeClock, FakeProvider

pytestmark = pytest.mark.anyio
USER = [{"role": "user", "content": "hello"}]


async def _written(other: ResponseCache) -> bool:
    """Whether ``other`` finds one entry on disk within a bounded number of loop turns (no
    waiting on the wall clock: the timer under test is due at once)."""
    for _ in range(200):
        if other.stats().entries == 1:
            return True
        await anyio.lowlevel.checkpoint()
    return False


async def test_a_lone_answer_reaches_other_processes_by_the_timer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    from deepseek_resilient._policies.cache import store

    # A timer due at once; the fake clock never moves, so no later store writes the batch.
    monkeypatch.setattr(store, "_BATCH_AGE", 1e-9)
    clock = FakeClock()
    cfg = Cache(directory=tmp_path / "cache")
    other = ResponseCache(cfg, clock=clock)  # another process's view of the directory
    async with AsyncClient([FakeProvider("p")], cache=cfg, clock=clock) as client:
        answer = await client.chat.completions.create(messages=USER, temperature=0)
        assert answer.route is not None and answer.route.cache == "miss"
        assert other.stats().entries == 0  # queued: not on disk yet
        assert await _written(other), "the batch was not written by its timer"
    other.close()


async def test_call_later_runs_once_and_can_be_cancelled(anyio_backend: str) -> None:
    ran: list[str] = []
    cancel = _later.call_later(0.0, lambda: ran.append("a"))
    assert cancel is not None
    dropped = _later.call_later(0.0, lambda: ran.append("b"))
    assert dropped is not None
    dropped()
    for _ in range(50):
        await anyio.lowlevel.checkpoint()
    assert ran == ["a"]


def test_call_later_outside_a_loop_sets_nothing() -> None:
    assert _later.call_later(0.0, lambda: None) is None


def test_a_batch_still_queued_at_exit_is_written(tmp_path: Path) -> None:
    """A client never closed, whose loop ended before the timer: the interpreter's exit
    writes the batch (a crash would lose it)."""
    directory = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import anyio
        from deepseek_resilient import AsyncClient, Cache
        from deepseek_resilient.testing import FakeProvider

        async def main():
            client = AsyncClient([FakeProvider("p")], cache=Cache(directory={str(directory)!r}))
            await client.chat.completions.create(
                messages=[{{"role": "user", "content": "hello"}}], temperature=0
            )

        anyio.run(main)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    other = ResponseCache(Cache(directory=directory))
    assert other.stats().entries == 1
    other.close()
