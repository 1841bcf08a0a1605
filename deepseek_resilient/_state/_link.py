"""One client's connection to Redis, and what happens when Redis misbehaves.

Every Redis operation goes through :meth:`RedisLink.run`: a short per-operation timeout, no
retries inside redis-py, and any failure (refused, reset, slow, a reply of the wrong shape)
turns the link *down* for ``retry_interval`` seconds. While down, the stores use their
in-process state; the first failure of an outage logs one WARNING on the
``deepseek_resilient`` logger and the first success after it logs that shared state is back.
Nothing here ever raises to a caller (cancellation excepted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from ._connect import build_client, explain
from ._ops import BATCH, Op, capped_parser, pipeline, script
from ._timer import OpTimer
from ._values import Garbage

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Garbage", "Op", "RedisLink", "capped_parser", "redacted"]

logger = logging.getLogger("deepseek_resilient")


def redacted(url: str) -> str:
    """The URL without its user name and password (for logs and reprs)."""
    if "://" not in url:  # "<Redis client>": a ready client, no URL
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        path = parts.path if parts.path not in ("", "/") else ""
        return f"{parts.scheme}://{host}{port}{path}"
    except ValueError:
        return "<unparsable redis url>"


class RedisLink:
    """A lazily opened redis-py asyncio client with an outage switch. One per client (its
    event loop); every key it hands out starts with ``"{" + namespace + "}:"``."""

    def __init__(
        self,
        url: str,
        namespace: str,
        *,
        op_timeout: float,
        retry_interval: float,
        max_op_timeout: float = 2.0,
        max_connections: int,
        max_value_bytes: int = 8 << 20,
        on_degraded: Callable[[str, str], None] | None = None,
        client: Redis | None = None,
    ) -> None:
        self.url = url
        #: A ready client given by the user: used as it is, and never closed here.
        self._given = client
        #: Told (where, why) when an outage starts; None: a WARNING on the logger.
        self.on_degraded = on_degraded
        self.namespace = namespace
        self._tag = "{" + namespace + "}"
        self.op_timeout = op_timeout
        #: The adaptive operation timeout, between op_timeout and max_op_timeout.
        self.timer = OpTimer(op_timeout, max_op_timeout)
        self.retry_interval = retry_interval
        self._max_connections = max_connections
        #: The largest value read from Redis (a cache entry, a merged answer); a reply
        #: larger than twice it is refused by the protocol parser itself.
        self.max_value_bytes = max_value_bytes
        self._repaired: set[str] = set()
        self._explained: set[str] = set()
        self._client: Redis | None = None
        self._down_until = 0.0
        self._outage = False
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Operations not sent yet (with their waiter's future; None: a background write),
        #: and the task that will send them, in one pipeline.
        self._queue: list[tuple[str, Op, asyncio.Future[Any] | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._not_asyncio_warned = False
        #: For tests and benchmarks: outages so far (each logged once), round trips a
        #: caller waited for (``ops``), background writes nobody waits for
        #: (``background``) and the round trips that carried them (``flushes``).
        self.outages = self.ops = self.background = self.flushes = 0

    def key(self, *parts: str) -> str:
        """``{namespace}:part:…``: the braces are a Redis Cluster hash tag, so every key of a
        namespace is in one slot and each script's keys may be used together."""
        return ":".join((self._tag, *parts))

    @property
    def up(self) -> bool:
        """False during an outage's back-off (the stores then skip Redis altogether)."""
        return time.monotonic() >= self._down_until

    def _redis(self) -> Redis:
        if self._client is None:
            if self._given is not None:
                self._client = self._given
                return self._client
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.maint_notifications import MaintNotificationsConfig

            self._client = build_client(
                self.url,
                max_connections=self._max_connections,
                # run()'s stall-aware deadline bounds every operation (background writes
                # too): no second timer per socket read, which would cost CPU on every call.
                timeout=None,
                socket_timeout=None,
                socket_connect_timeout=10 * self.timer.ceiling,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
                parser_class=capped_parser(2 * self.max_value_bytes + 4096),
                maint_notifications_config=MaintNotificationsConfig(enabled=False),
            )
        return self._client

    def call(self, source: str, keys: list[str], args: list[str]) -> Op:
        """An operation for ``run`` / ``spawn``: the Lua script ``source`` on ``keys``."""
        return script(source, keys, args)

    @staticmethod
    def command(*args: Any) -> Op:
        """An operation for ``run`` / ``spawn``: one plain command (``"SET"``, key, …)."""
        return Op(args)

    async def run(self, what: str, op: Op) -> Any:
        """``op``'s reply within the per-op timeout; None (and the link down) on any failure."""
        if not self.up:
            return None
        if not _on_asyncio():
            if not self._not_asyncio_warned:
                self._not_asyncio_warned = True
                logger.warning("RedisState needs asyncio: using in-process state")
            self._down_until = float("inf")
            return None
        self.ops += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(what, op, future)
        return await future

    async def _timed(self, what: str, send: Callable[[Any, Any], Any], arg: Any) -> Any:
        timer = self.timer
        started = time.monotonic()
        try:
            with timer.deadline() as scope:
                result = await send(self._redis(), arg)
        except Exception as exc:  # redis errors, OSError, TimeoutError, Garbage, bad replies
            if not _is_timeout(exc) or timer.timed_out():
                self.failed(what, exc)
            return None
        if scope.cancelled_caught:  # slow: degraded only after ``strikes`` in a row
            if timer.timed_out():
                self.failed(what, f"no answer within {timer.timeout():.2f}s")
            else:
                logger.debug(
                    "Redis %s took over %.2fs: in-process state for it", what, timer.timeout()
                )
            return None
        timer.observe(time.monotonic() - started)
        self.ok()
        return result

    def repaired(self, what: str, detail: str = "") -> None:
        """Redis held a value out of bounds (infinite, NaN, garbage, beyond a cap): it was
        treated as absent; logged once per kind of value."""
        if what in self._repaired:
            return
        self._repaired.add(what)
        logger.warning(
            "Redis at %s held an invalid %s value%s: treated as absent (logged once)",
            redacted(self.url),
            what,
            f" ({_short(detail, 80)})" if detail else "",
        )

    def ok(self) -> None:
        """An operation succeeded: leave an outage (logged once)."""
        if self._outage:
            self._outage = False
            logger.warning("Redis at %s answers again: shared state resumed", redacted(self.url))

    def failed(self, what: str, exc: BaseException | str) -> None:
        """Enter (or extend) an outage: in-process state for ``retry_interval`` seconds."""
        self._down_until = time.monotonic() + self.retry_interval
        setup = explain(exc) if isinstance(exc, BaseException) else None
        if setup is not None and setup not in self._explained:  # a setup problem: say so
            self._explained.add(setup)
            logger.error("Redis at %s cannot be used: %s", redacted(self.url), setup)
        if not self._outage:
            self._outage = True
            self.outages += 1
            if self.on_degraded is not None:  # the client's hooks (its logging hook included)
                kind = exc if isinstance(exc, str) else type(exc).__name__
                self.on_degraded(f"Redis at {redacted(self.url)}", f"{_short(kind)} during {what}")
                return
            reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
            logger.warning(
                "Redis at %s failed (%s during %s): using in-process state until it answers",
                redacted(self.url),
                _short(reason),
                what,
            )

    def spawn(self, what: str, op: Op) -> asyncio.Task[None] | None:
        """Send ``op`` in the background (a write the caller must not wait for); the task
        returned ends when it has been answered."""
        if not self.up or not _on_asyncio():
            return None
        self.background += 1
        return self._enqueue(what, op, None)

    def _enqueue(self, what: str, op: Op, future: asyncio.Future[Any] | None) -> asyncio.Task[None]:
        """Queue ``op``: every operation queued while this process runs on (until its event
        loop next turns) goes out in one pipeline, waited for or not (one send, one round
        trip, in order)."""
        self._queue.append((what, op, future))
        return self._kick()

    def _kick(self) -> asyncio.Task[None]:
        """The task that sends what is queued (made when the first operation is queued)."""
        task = self._flusher
        if task is None:
            task = self._flusher = asyncio.get_running_loop().create_task(_guarded(self._flush()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    async def _flush(self) -> None:
        self._flusher = None  # what is queued from now on goes in the next pipeline
        batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
        if self._queue:  # more than one pipeline's worth: the rest goes in the next one
            self._kick()
        replies = None
        try:
            if batch and self.up:
                self.flushes += 1
                ops = [op for _, op, _ in batch]
                replies = await self._timed(batch[0][0], pipeline, ops)
        finally:  # every waiter hears, even if this task is cancelled
            for i, (what, _, future) in enumerate(batch):
                reply = replies[i] if replies is not None else None
                if isinstance(reply, Exception):  # an error reply: unusable, as any failure
                    self.failed(what, reply)
                    reply = None
                if future is not None and not future.done():
                    future.set_result(reply)

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait (bounded) for the background writes started so far."""
        tasks = list(self._tasks)
        if tasks:
            with anyio.move_on_after(timeout):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        if _on_asyncio():
            await self.drain()
        client, self._client = self._client, None
        if client is not None and client is not self._given:
            try:
                await client.aclose(close_connection_pool=True)
            except Exception as exc:  # closing a broken connection: nothing to do
                logger.debug("closing the Redis client failed (%r)", exc)

    def __repr__(self) -> str:
        state = "down" if not self.up else "up"
        return f"RedisLink({redacted(self.url)!r}, namespace={self.namespace!r}, {state})"


async def _guarded(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await coro
    except Exception as exc:  # pragma: no cover - run() already catches everything
        logger.debug("background Redis write failed (%r)", exc)


def _is_timeout(exc: BaseException) -> bool:
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (TimeoutError, RedisTimeoutError))


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _short(text: object, limit: int = 160) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"
