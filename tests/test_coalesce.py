"""Singleflight under asyncio and trio: the leader runs the call in its own task."""

from __future__ import annotations

import contextvars
from typing import Any

import anyio
import pytest

from deepseek_resilient._policies.coalesce import Singleflight

pytestmark = pytest.mark.anyio


class Call:
    """A controllable fn: counts calls, blocks until released, records cancellation."""

    def __init__(self, result: Any = "answer", error: BaseException | None = None) -> None:
        self.result = result
        self.error = error
        self.calls = 0
        self.gate = anyio.Event()
        self.cancelled = False
        self.finished = anyio.Event()

    async def __call__(self) -> Any:
        self.calls += 1
        try:
            await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise
        finally:
            self.finished.set()
        if self.error is not None:
            raise self.error
        return self.result


async def test_hundred_identical_calls_share_one() -> None:
    call = Call(result=object())
    results: list[tuple[Any, bool]] = []

    async def one() -> None:
        results.append(await sf.run("k", call))

    sf: Singleflight[Any] = Singleflight()
    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        assert sf.waiters("k") == 100 and sf.in_flight == 1
        call.gate.set()
    assert call.calls == 1
    assert len(results) == 100
    assert all(r is call.result for r, _ in results)
    assert sum(c for _, c in results) == 99
    assert sf.in_flight == 0


async def test_different_keys_are_not_merged() -> None:
    calls = {k: Call(result=k) for k in "abc"}
    results: dict[str, Any] = {}

    async def one(k: str) -> None:
        results[k] = await sf.run(k, calls[k])

    sf: Singleflight[Any] = Singleflight()
    async with anyio.create_task_group() as tg:
        for k in "abc":
            tg.start_soon(one, k)
        await anyio.wait_all_tasks_blocked()
        assert sf.in_flight == 3
        for c in calls.values():
            c.gate.set()
    assert results == {"a": ("a", False), "b": ("b", False), "c": ("c", False)}
    assert all(c.calls == 1 for c in calls.values())


async def test_error_reaches_every_waiter_once() -> None:
    boom = ValueError("boom")
    call = Call(error=boom)
    caught: list[BaseException] = []

    async def one() -> None:
        try:
            await sf.run("k", call)
        except ValueError as exc:
            caught.append(exc)

    sf: Singleflight[Any] = Singleflight()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        call.gate.set()
    assert call.calls == 1
    assert len(caught) == 10 and all(e is boom for e in caught)
    # The traceback does not grow by one chain per waiter.
    depth = 0
    tb = boom.__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    assert depth < 10


async def test_leader_cancelled_followers_run_the_call_again() -> None:
    call = Call()
    followers: list[tuple[Any, bool]] = []
    leader_cancelled = False

    async def leader(scope_ready: anyio.Event, box: list[anyio.CancelScope]) -> None:
        nonlocal leader_cancelled
        with anyio.CancelScope() as scope:
            box.append(scope)
            scope_ready.set()
            await sf.run("k", call)
        leader_cancelled = scope.cancelled_caught

    async def follower() -> None:
        followers.append(await sf.run("k", call))

    sf: Singleflight[Any] = Singleflight()
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        box: list[anyio.CancelScope] = []
        tg.start_soon(leader, ready, box)
        await ready.wait()
        await anyio.wait_all_tasks_blocked()
        for _ in range(3):
            tg.start_soon(follower)
        await anyio.wait_all_tasks_blocked()
        assert sf.waiters("k") == 4
        box[0].cancel()
        await anyio.wait_all_tasks_blocked()
        # The leader left at once and its call with it; one follower runs it again.
        assert leader_cancelled and call.cancelled
        assert call.calls == 2 and sf.waiters("k") == 3
        call.gate.set()
    assert sorted(followers, key=lambda r: r[1]) == [("answer", False)] + [("answer", True)] * 2


async def test_all_waiters_gone_cancels_the_call() -> None:
    call = Call()
    sf: Singleflight[Any] = Singleflight()
    with anyio.CancelScope() as outer:

        async def one() -> None:
            await sf.run("k", call)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
            await anyio.wait_all_tasks_blocked()
            assert call.calls == 1
            outer.cancel()
    with anyio.fail_after(5):
        await call.finished.wait()
    assert call.cancelled
    assert sf.in_flight == 0
    # A new call after that starts afresh (it does not join the cancelled one).
    fresh = Call(result="again")
    fresh.gate.set()
    assert await sf.run("k", fresh) == ("again", False)


async def test_joiners_leaving_keep_the_call() -> None:
    call = Call()
    got: list[Any] = []
    sf: Singleflight[Any] = Singleflight()
    async with anyio.create_task_group() as tg:
        scopes = [anyio.CancelScope() for _ in range(4)]

        async def one(scope: anyio.CancelScope) -> None:
            with scope:
                got.append(await sf.run("k", call))

        for s in scopes:
            tg.start_soon(one, s)
            await anyio.wait_all_tasks_blocked()  # scopes[0] leads
        for s in scopes[1:]:
            s.cancel()
        await anyio.wait_all_tasks_blocked()
        assert sf.waiters("k") == 1 and not call.cancelled
        call.gate.set()
    assert got == [("answer", False)]
    assert call.calls == 1


async def test_after_completion_a_new_call_runs_again() -> None:
    sf: Singleflight[Any] = Singleflight()
    first, second = Call(result=1), Call(result=2)
    first.gate.set()
    second.gate.set()
    assert await sf.run("k", first) == (1, False)
    assert await sf.run("k", second) == (2, False)
    assert first.calls == second.calls == 1
    failing = Call(error=RuntimeError("x"))
    failing.gate.set()
    with pytest.raises(RuntimeError):
        await sf.run("k", failing)
    assert await sf.run("k", second) == (2, False)  # errors are not remembered either
    assert sf.in_flight == 0


async def test_context_variables_reach_fn() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")

    async def fn() -> str:
        return var.get()

    sf: Singleflight[Any] = Singleflight()
    assert await sf.run("k", fn) == ("caller", False)


def test_construct_outside_a_loop_and_reuse_across_runs() -> None:
    sf: Singleflight[int] = Singleflight()

    async def main() -> tuple[int, bool]:
        async def fn() -> int:
            return 7

        return await sf.run("k", fn)

    assert anyio.run(main, backend="asyncio") == (7, False)
    assert anyio.run(main, backend="trio") == (7, False)


async def test_rejoining_right_after_everyone_left_starts_afresh() -> None:
    stale = Call(result="stale")
    sf: Singleflight[Any] = Singleflight()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await sf.run("k", stale)  # leaves at once: its call gets cancelled
    fresh = Call(result="fresh")
    fresh.gate.set()
    assert await sf.run("k", fresh) == ("fresh", False)
    assert fresh.calls == 1
    stale.gate.set()
