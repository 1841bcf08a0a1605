"""``IdleWatch``: one timer for an idle limit over many awaits (asyncio and trio)."""

from __future__ import annotations

import math

import anyio
import pytest

from deepseek_resilient._streaming.idle import AttemptScope, IdleWatch

pytestmark = pytest.mark.anyio


async def _checkpoints(n: int = 20) -> None:
    for _ in range(n):
        await anyio.lowlevel.checkpoint()


async def test_no_touch_within_the_limit_cancels_the_block() -> None:
    reached_end = False
    with IdleWatch(0.0) as watch:
        await _checkpoints()
        reached_end = True
    assert watch.expired and not reached_end


async def test_touches_keep_the_block_alive_and_nothing_expires_without_a_limit() -> None:
    with IdleWatch(3600.0) as watch:
        for _ in range(5):
            await _checkpoints(2)
            watch.touch()
    assert not watch.expired
    with IdleWatch(math.inf) as endless:
        await _checkpoints()
        endless.touch()
    assert not endless.expired


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio: the deadline moves instead
async def test_the_timer_rearms_from_the_last_touch() -> None:
    with IdleWatch(5.0) as watch:
        watch.last = anyio.current_time() + 100.0  # touched "later": the timer fires early
        watch._check()
        await _checkpoints()
        assert watch._handle is not None  # re-armed, not cancelled
        watch.last = anyio.current_time() - 10.0  # untouched for longer than the limit
        watch._check()
        await _checkpoints()
    assert watch.expired


async def test_an_outer_cancellation_is_not_an_expiry() -> None:
    with anyio.CancelScope() as outer:
        with IdleWatch(3600.0) as watch:
            outer.cancel()
            await _checkpoints()
    assert outer.cancelled_caught and not watch.expired


async def test_with_an_outer_scope_an_expiry_ends_that_scope() -> None:
    """On asyncio the watch cancels the enclosing scope it is given (no scope of its own) and
    says so; on trio it keeps a scope of its own, which swallows the expiry."""
    reached_end = False
    with anyio.CancelScope() as outer:
        with IdleWatch(0.0, outer) as watch:
            await _checkpoints()
            reached_end = True
        after_watch = True
    assert watch.expired and not reached_end
    if watch._entered:  # trio: its own scope ended the block, the outer one did not
        assert after_watch and not outer.cancel_called
    else:
        assert outer.cancelled_caught


async def test_with_an_outer_scope_touches_keep_it_alive_and_other_cancels_are_not_expiries() -> (
    None
):
    with anyio.CancelScope() as outer:
        with IdleWatch(3600.0, outer) as watch:
            for _ in range(3):
                await _checkpoints(2)
                watch.touch()
    assert not watch.expired and not outer.cancel_called
    with anyio.CancelScope() as outer:
        with IdleWatch(3600.0, outer) as watch:
            outer.cancel()
            await _checkpoints()
    assert outer.cancelled_caught and not watch.expired


# -- AttemptScope: an attempt's deadline, its move at commit and the idle limit on one timer


async def test_an_attempt_scope_ends_its_block_at_its_limit() -> None:
    reached_end = False
    with AttemptScope(0.0) as scope:
        await _checkpoints()
        reached_end = True
    assert scope.cancel_called and not reached_end and not scope.idle_expired
    with AttemptScope(0.01) as scope:
        await anyio.sleep(3600)  # ended by the scope's deadline, whenever it comes
    assert scope.cancel_called and not scope.idle_expired


async def test_an_extended_deadline_lets_the_block_run_past_the_first_one() -> None:
    with AttemptScope(0.01) as scope:
        scope.extend(3600.0)
        await anyio.sleep(0.05)  # past the first deadline: its timer fires and re-arms
        reached_end = True
    assert reached_end and not scope.cancel_called
    with AttemptScope(0.01) as endless:
        endless.extend(math.inf)  # no limit after the first token: the timer stops
        await anyio.sleep(0.05)
    assert not endless.cancel_called


async def test_an_idle_limit_shorter_than_the_deadline_ends_the_block_and_says_so() -> None:
    with AttemptScope(3600.0) as scope:
        if not scope.watch_idle(0.01):  # trio: declined (the reader keeps an IdleWatch)
            assert not scope.idle_expired
            return
        await anyio.sleep(3600)
    assert scope.cancel_called and scope.idle_expired


async def test_touches_keep_an_attempt_scope_alive_until_the_idle_limit_ends() -> None:
    with AttemptScope(3600.0) as scope:
        if scope.watch_idle(3600.0):
            for _ in range(3):
                await _checkpoints(2)
                scope.touch()
            scope.end_idle()
    assert not scope.cancel_called and not scope.idle_expired


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio: the scope's own deadline
async def test_an_attempt_scopes_timer_checks_the_earlier_of_its_limits() -> None:
    with AttemptScope(3600.0) as scope:
        assert scope.watch_idle(5.0)
        scope.last = anyio.current_time() + 100.0  # touched "later": nothing is due yet
        scope._check()
        await _checkpoints()
        assert scope._handle is not None and not scope.cancel_called
        scope.end_idle()
        scope._check()  # no idle limit: the deadline, far away, is what the timer waits for
        assert scope._handle is not None and scope._handle.when() == scope.deadline
        scope.deadline = anyio.current_time() - 1.0  # the deadline passed
        scope._check()
        await _checkpoints()
    assert scope.cancel_called and not scope.idle_expired


async def test_a_callers_cancellation_is_not_the_attempts() -> None:
    with anyio.CancelScope() as outer:
        with AttemptScope(3600.0) as scope:
            scope.watch_idle(3600.0)
            outer.cancel()
            await _checkpoints()
    assert outer.cancelled_caught and not scope.cancel_called and not scope.idle_expired
