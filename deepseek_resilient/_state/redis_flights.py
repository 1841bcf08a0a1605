"""Merging identical in-flight calls across processes: a lease plus a published result.

Within a process the ``Singleflight`` already merges identical calls into one *local leader*;
here the local leaders of all processes meet. One Lua round trip either finds a published
result it may use (use it), takes the lease ``<ns>:flight:<key>`` (lead: make the call,
publish the answer under ``<ns>:result:<key>`` stamped with the server's time, drop the
lease) or finds the lease taken (follow: poll, 10 ms growing to 100 ms, for the result).

A published result is never a stale answer: it goes only to callers that were already
waiting when it was published, or that arrive within ``reuse`` seconds of it (the client's
cache TTL; 0 without a cache, so without a cache nothing is reused across processes beyond
the calls in flight). The key itself lapses after ``result_ttl``.

The leader keeps its lease alive (``lease_ttl``, renewed every third of it) while its call
runs: if the leader's process dies the lease lapses and a follower takes over; if its call
fails it drops the lease without a result and the next follower takes over. A follower's
own deadline (the request's) bounds its wait. No answer text goes into any key: the key is
the request's hash (``request_key``); the value is the answer itself, as the cache stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError

from .._models import ChatCompletion
from . import _lua_answers as _lua
from ._link import RedisLink
from ._values import Garbage, finite
from .admission import Claims
from .base import Compute

__all__ = ["RedisFlights"]

logger = logging.getLogger("deepseek_resilient")

_POLL_FIRST = 0.01
_POLL_MAX = 0.1


class _Published(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    provider: str | None
    completion: ChatCompletion


class RedisFlights:
    """The ``FlightStore`` on Redis (see the module docstring)."""

    def __init__(
        self,
        link: RedisLink,
        *,
        lease_ttl: float,
        result_ttl: float,
        reuse: float = 0.0,
        claims: Claims | None = None,
    ) -> None:
        self._link = link
        self._reuse_ms = repr(max(0.0, min(reuse, result_ttl)) * 1000.0)
        self._lease_ms = str(max(100, int(lease_ttl * 1000)))
        self._lease_ttl = lease_ttl
        self._result_ms = str(max(100, int(result_ttl * 1000)))
        self._beats: set[asyncio.Task[None]] = set()
        self._claims = claims or Claims()
        limit = str(link.max_value_bytes)
        self._claims.args = [self._lease_ms, "0", self._reuse_ms, limit]

    async def run(self, key: str, compute: Compute) -> tuple[ChatCompletion, str | None, bool]:
        link = self._link
        keys = [link.key("flight", key), link.key("result", key)]
        token = uuid.uuid4().hex
        poll = _POLL_FIRST
        joined = "0"  # the server's time when this caller first found the call in flight
        limit = str(link.max_value_bytes)
        while True:
            won = self._claims.lead(key)  # claimed by a cache read of this process
            if won is not None:
                return (*await self._lead(keys, won, compute), False)
            args = [token, self._lease_ms, joined, self._reuse_ms, limit]
            reply = await link.run("merge", link.call(_lua.FLIGHT_CLAIM, keys, args))
            kind, payload = _kind(reply)
            if kind == "result":
                self._drop_stray(key, keys)
                published = _published(payload)
                if published is not None:
                    return published.completion.model_copy(), published.provider, True
                link.repaired("merged answer", "does not parse")
                self._drop_result(keys[1])
                return (*await compute(), False)
            if kind == "lead":
                return (*await self._lead(keys, token, compute), False)
            if kind == "wait" and _stamp(payload):
                joined = payload.decode("ascii") if isinstance(payload, bytes) else joined
            else:  # Redis unusable or garbage: this process calls on its own
                self._drop_stray(key, keys)
                if reply is not None:
                    link.failed("merge", f"unexpected reply {reply!r:.60}")
                return (*await compute(), False)
            await anyio.sleep(poll)
            poll = min(_POLL_MAX, poll * 2)

    async def _lead(
        self, keys: list[str], token: str, compute: Compute
    ) -> tuple[ChatCompletion, str | None]:
        link = self._link
        running = [True]
        heartbeat = asyncio.get_running_loop().create_task(self._keep(keys[0], token, running))
        self._beats.add(heartbeat)  # asyncio keeps only a weak reference
        heartbeat.add_done_callback(self._beats.discard)
        result = ""
        try:
            completion, provider = await compute()
            doc = _Published(v=1, provider=provider, completion=completion)
            result = doc.model_dump_json()
            return completion, provider
        finally:
            # Stop the heartbeat without waiting for it: it only ever sleeps or renews.
            running[0] = False
            heartbeat.cancel()
            link.spawn(
                "merge publish",
                link.call(_lua.FLIGHT_END, keys, [token, result, self._result_ms]),
            )

    async def _keep(self, lease: str, token: str, running: list[bool]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while running[0]:
                await asyncio.sleep(self._lease_ttl / 3.0)
                if not running[0]:
                    return
                await self._link.run(
                    "merge lease",
                    self._link.call(_lua.FLIGHT_EXTEND, [lease], [token, self._lease_ms]),
                )

    def _drop_stray(self, key: str, keys: list[str]) -> None:
        """A lease a cache read of this process won meanwhile while this caller goes
        another way: give it up now (else other processes would wait for it to lapse)."""
        won = self._claims.lead(key)
        if won is not None:
            end = self._link.call(_lua.FLIGHT_END, keys, [won, "", self._result_ms])
            self._link.spawn("merge release", end)

    def _drop_result(self, rkey: str) -> None:
        self._link.spawn("merge cleanup", self._link.command("DEL", rkey))

    def __repr__(self) -> str:
        return f"RedisFlights(lease_ttl={self._lease_ttl})"


def _kind(reply: Any) -> tuple[str | None, Any]:
    if not isinstance(reply, list) or not 1 <= len(reply) <= 2 or not isinstance(reply[0], bytes):
        return None, None
    return reply[0].decode("ascii", "replace"), reply[1] if len(reply) > 1 else None


def _stamp(payload: Any) -> bool:
    """A server time in ms, as the claim script writes it."""
    try:
        finite(payload, low=1.0)
    except Garbage:
        return False
    return True


def _published(payload: Any) -> _Published | None:
    if not isinstance(payload, bytes):
        return None
    try:
        return _Published.model_validate_json(payload)
    except (ValidationError, ValueError) as exc:
        logger.debug("published merge result invalid (%s): ignoring it", type(exc).__name__)
        return None
