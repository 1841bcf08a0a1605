"""``IdleWatch``: one timer for an idle limit over many awaits (asyncio and trio)."""

from __future__ import annotations

import math

import anyio
import pytest

from deepseek_resilient._streaming.idle import IdleWatch

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
