"""Singleflight under asyncio and trio, with and without an owning ``async with`` block."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from deepseek_resilient._policies.coalesce import FlightAbandoned, Singleflight

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["loop-task", "task-group"])
def owner(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def singleflight(owner: str) -> AsyncIterator[Singleflight[Any]]:
    sf: Singleflight[Any] = Singleflight()
    if owner == "task-group":
        async with sf:
            yield sf
    else:
        yield sf


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


async def test_hundred_identical_calls_share_one(owner: str) -> None:
    call = Call(result=object())
    results: list[tuple[Any, bool]] = []

    async def one() -> None:
        results.append(await sf.run("k", call))

    async with singleflight(owner) as sf, anyio.create_task_group() as tg:
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


async def test_different_keys_are_not_merged(owner: str) -> None:
    calls = {k: Call(result=k) for k in "abc"}
    results: dict[str, Any] = {}

    async def one(k: str) -> None:
        results[k] = await sf.run(k, calls[k])

    async with singleflight(owner) as sf, anyio.create_task_group() as tg:
        for k in "abc":
            tg.start_soon(one, k)
        await anyio.wait_all_tasks_blocked()
        assert sf.in_flight == 3
        for c in calls.values():
            c.gate.set()
    assert results == {"a": ("a", False), "b": ("b", False), "c": ("c", False)}
    assert all(c.calls == 1 for c in calls.values())


async def test_error_reaches_every_waiter_once(owner: str) -> None:
    boom = ValueError("boom")
    call = Call(error=boom)
    caught: list[BaseException] = []

    async def one() -> None:
        try:
            await sf.run("k", call)
        except ValueError as exc:
            caught.append(exc)

    async with singleflight(owner) as sf, anyio.create_task_group() as tg:
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


async def test_leader_cancelled_followers_still_get_the_result(owner: str) -> None:
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

    async with singleflight(owner) as sf, anyio.create_task_group() as tg:
        ready = anyio.Event()
        box: list[anyio.CancelScope] = []
        tg.start_soon(leader, ready, box)
        await ready.wait()
        await anyio.wait_all_tasks_blocked()
        for _ in range(3):
            tg.start_soon(follower)
        await anyio.wait_all_tasks_blocked()
        box[0].cancel()
        await anyio.wait_all_tasks_blocked()
        assert leader_cancelled  # the leader left at once, before the call ended
        assert not call.cancelled and sf.waiters("k") == 3
        call.gate.set()
    assert followers == [("answer", True)] * 3
    assert call.calls == 1 and not call.cancelled


async def test_all_waiters_gone_cancels_the_call(owner: str) -> None:
    call = Call()
    async with singleflight(owner) as sf:
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


async def test_partial_cancellation_keeps_the_call(owner: str) -> None:
    call = Call()
    got: list[Any] = []

    async with singleflight(owner) as sf, anyio.create_task_group() as tg:
        scopes = [anyio.CancelScope() for _ in range(4)]

        async def one(scope: anyio.CancelScope) -> None:
            with scope:
                got.append(await sf.run("k", call))

        for s in scopes:
            tg.start_soon(one, s)
        await anyio.wait_all_tasks_blocked()
        for s in scopes[:3]:
            s.cancel()
        await anyio.wait_all_tasks_blocked()
        assert sf.waiters("k") == 1 and not call.cancelled
        call.gate.set()
    assert len(got) == 1 and got[0][0] == "answer"
    assert call.calls == 1


async def test_after_completion_a_new_call_runs_again(owner: str) -> None:
    async with singleflight(owner) as sf:
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


async def test_context_variables_reach_fn(owner: str) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")

    async def fn() -> str:
        return var.get()

    async with singleflight(owner) as sf:
        assert await sf.run("k", fn) == ("caller", False)


async def test_closing_the_owner_abandons_waiters_cleanly() -> None:
    call = Call()
    errors: list[BaseException] = []

    async def waiter(sf: Singleflight[Any]) -> None:
        try:
            await sf.run("k", call)
        except FlightAbandoned as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        async with Singleflight[Any]() as sf:
            tg.start_soon(waiter, sf)
            await anyio.wait_all_tasks_blocked()
        # leaving the block cancelled the call; the waiter outside is told, not left hanging
    assert call.cancelled
    assert len(errors) == 1


def test_construct_outside_a_loop_and_reuse_across_runs() -> None:
    sf: Singleflight[int] = Singleflight()

    async def main() -> tuple[int, bool]:
        async def fn() -> int:
            return 7

        return await sf.run("k", fn)

    assert anyio.run(main, backend="asyncio") == (7, False)
    assert anyio.run(main, backend="trio") == (7, False)


async def test_rejoining_right_after_everyone_left_starts_afresh(owner: str) -> None:
    stale = Call(result="stale")
    async with singleflight(owner) as sf:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await sf.run("k", stale)  # leaves at once: its call gets cancelled
        fresh = Call(result="fresh")
        fresh.gate.set()
        assert await sf.run("k", fresh) == ("fresh", False)
        assert fresh.calls == 1
        stale.gate.set()
