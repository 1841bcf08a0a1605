"""After a stream's ``[DONE]`` the HTTP provider reads the rest of the body (so the connection
goes back to the pool) within 0.25 s: at once and with no timer when the body had already
ended, else waiting for it within that limit, never longer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from deepseek_resilient._providers.http import body as body_module
from deepseek_resilient._providers.http import send
from deepseek_resilient._providers.http.send import drain

pytestmark = pytest.mark.anyio


class _Body:
    """A body's remaining pieces; ``waits``: suspensions before each piece; ``then_hang``:
    never ends after them. Records how far it was read."""

    def __init__(self, pieces: list[bytes], waits: int = 0, then_hang: bool = False) -> None:
        self.pieces, self.waits, self.then_hang = pieces, waits, then_hang
        self.read: list[bytes] = []
        self.ended = False
        self.closed_by: str | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for piece in self.pieces:
                for _ in range(self.waits):
                    await anyio.lowlevel.checkpoint()
                self.read.append(piece)
                yield piece
            if self.then_hang:
                await anyio.Event().wait()
            self.ended = True
        except BaseException as exc:
            self.closed_by = type(exc).__name__
            raise


def _no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: Any) -> Any:
        raise AssertionError("a timer was set")

    monkeypatch.setattr(send, "_Cut", refused)  # asyncio
    monkeypatch.setattr(send, "body_drain", refused)  # trio: the general drain, with its timer


async def test_a_body_that_already_ended_is_drained_with_no_timer(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    body = _Body([])
    if anyio_backend == "asyncio":
        _no_timer(monkeypatch)
    await drain(aiter(body))
    assert body.ended


async def test_a_body_whose_end_must_be_waited_for_is_read_to_its_end() -> None:
    body = _Body([b"0\r\n", b"\r\n"], waits=2)
    await drain(aiter(body))
    assert body.read == [b"0\r\n", b"\r\n"] and body.ended


async def test_a_piece_that_comes_at_once_is_counted_and_the_rest_read() -> None:
    body = _Body([b"x", b"y"])
    await drain(aiter(body))
    assert body.ended


async def test_a_body_that_never_ends_is_given_up_after_the_limit() -> None:
    body = _Body([b"x"], waits=1, then_hang=True)
    with anyio.fail_after(30):  # unbounded, this would hang until the guard
        await drain(aiter(body))
    assert body.read == [b"x"] and not body.ended


async def test_a_first_step_that_never_ends_is_given_up_after_the_limit() -> None:
    body = _Body([], then_hang=True)
    with anyio.fail_after(30):
        await drain(aiter(body))
    assert not body.ended and body.closed_by is not None


async def test_past_the_byte_limit_the_drain_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send, "DRAIN_BYTES", 10)
    monkeypatch.setattr(body_module, "DRAIN_BYTES", 10)
    body = _Body([b"a" * 6, b"b" * 6, b"c"], waits=1)
    await drain(aiter(body))
    assert body.read == [b"a" * 6, b"b" * 6] and not body.ended


async def test_a_caller_cancelling_a_waiting_drain_reaches_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(send, "DRAIN_SECONDS", 3600.0)
    monkeypatch.setattr(body_module, "DRAIN_SECONDS", 3600.0)
    body = _Body([], then_hang=True)
    with anyio.CancelScope() as scope:

        async def cancel_soon() -> None:
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            await drain(aiter(body))
            raise AssertionError("the drain outlived its caller's cancellation")
    assert scope.cancelled_caught and body.closed_by is not None


async def test_errors_while_draining_are_ignored() -> None:
    async def broken() -> AsyncIterator[bytes]:
        await anyio.lowlevel.checkpoint()
        raise OSError("reset")
        yield b""  # pragma: no cover

    async def broken_at_once() -> AsyncIterator[bytes]:
        raise OSError("reset")
        yield b""  # pragma: no cover

    await drain(broken())
    await drain(broken_at_once())
