"""The answer cache on Redis: a small in-process LRU (L1) over Redis (L2).

Entries are the disk cache's JSON (``{"v": 1, "stored_at": …, "completion": …}``) under
``<namespace>:cache:<the request key (a hash)>``, expiring in Redis after ``ttl +
stale_if_error``. A read tries L1, then (unless L1's copy is fresh) Redis; anything that does
not parse is a miss and is deleted. A write goes to L1 at once and to Redis in the
background. While Redis is unusable the cache is L1 alone. Never raises.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import OrderedDict

from pydantic import ValidationError

from .._core.clock import Clock, TimeSource
from .._core.config import Cache
from .._models import ChatCompletion
from .._policies.cache.store import ENTRY_VERSION, CachedAnswer, WallClock, _Entry
from . import _lua_answers as _lua
from ._link import RedisLink
from .admission import ANSWER_READ, Claims

__all__ = ["RedisCacheStore"]

logger = logging.getLogger("deepseek_resilient")

_CLOCK_SKEW = 60.0


class RedisCacheStore:
    """The ``CacheStore`` on Redis (see the module docstring)."""

    def __init__(
        self,
        config: Cache,
        clock: Clock | None,
        link: RedisLink,
        *,
        l1_size: int,
        claims: Claims | None = None,
    ) -> None:
        self._config = config
        self._clock: TimeSource = clock if clock is not None else WallClock()
        self._link = link
        self._l1: OrderedDict[str, _Entry] = OrderedDict()
        self._l1_size = l1_size
        self._px = max(1, int((config.ttl + config.stale_if_error) * 1000))
        self._claims = claims
        self.hits = self.stale = self.misses = 0

    def _answer(self, entry: _Entry) -> CachedAnswer | None:
        age = self._clock.now() - entry.stored_at
        if not math.isfinite(age):
            return None
        if age < -_CLOCK_SKEW or age > self._config.ttl + self._config.stale_if_error:
            return None
        age = max(age, 0.0)
        return CachedAnswer(entry.completion, fresh=age <= self._config.ttl, age=age)

    async def get(self, key: str, *, merging: bool = False) -> CachedAnswer | None:
        answer = self._from_l1(key)
        if (answer is None or not answer.fresh) and self._link.up:
            remote = await self._from_redis(key, merging and answer is None)
            if remote is not None and (answer is None or remote.age < answer.age):
                answer = remote
        if answer is None:
            self.misses += 1
        elif answer.fresh:
            self.hits += 1
        else:
            self.stale += 1
        return answer

    def _from_l1(self, key: str) -> CachedAnswer | None:
        entry = self._l1.get(key)
        if entry is None:
            return None
        answer = self._answer(entry)
        if answer is None:
            del self._l1[key]
            return None
        self._l1.move_to_end(key)
        return answer

    async def _from_redis(self, key: str, merging: bool) -> CachedAnswer | None:
        link = self._link
        rkey = link.key("cache", key)
        limit = str(link.max_value_bytes)
        claim = self._claims.args if self._claims is not None and merging else None
        if claim is None:
            raw = await link.run("cache read", link.call(_lua.CACHE_READ, [rkey], [limit]))
        else:  # a miss also claims the merge of the same call (see .admission)
            token = uuid.uuid4().hex
            keys = [rkey, link.key("flight", key), link.key("result", key)]
            read = link.call(ANSWER_READ, keys, [limit, token, *claim])
            reply = await link.run("cache read", read)
            raw = None
            if isinstance(reply, list) and len(reply) == 2:
                raw = reply[0]
                if reply[1] is not None and self._claims is not None:
                    self._claims.offer(key, token, reply[1])
            elif reply is not None:
                link.failed("cache read", f"unexpected reply {reply!r:.60}")
        if not isinstance(raw, bytes) or not raw:
            if raw is not None:  # not ours, or too large: the script deleted it
                self._link.repaired("cache entry", "wrong type or too large")
            return None
        try:
            entry = _Entry.model_validate_json(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            self._link.repaired("cache entry", type(exc).__name__)
            self._delete(rkey)
            return None
        answer = self._answer(entry)
        if answer is not None:
            self._remember(key, entry)
        return answer

    def _remember(self, key: str, entry: _Entry) -> None:
        self._l1[key] = entry
        self._l1.move_to_end(key)
        while len(self._l1) > self._l1_size:
            self._l1.popitem(last=False)

    def set(self, key: str, completion: ChatCompletion) -> None:
        try:
            entry = _Entry(v=ENTRY_VERSION, stored_at=self._clock.now(), completion=completion)
            data = entry.model_dump_json().encode("utf-8")
        except Exception as exc:
            logger.debug("cache write skipped (%r)", exc)
            return
        self._remember(key, entry)
        rkey = self._link.key("cache", key)
        self._link.spawn("cache write", self._link.command("SET", rkey, data, "PX", self._px))

    def _delete(self, rkey: str) -> None:
        self._link.spawn("cache delete", self._link.command("DEL", rkey))

    def close(self) -> None:
        self._l1.clear()

    def __repr__(self) -> str:
        return f"RedisCacheStore(ttl={self._config.ttl}, l1={len(self._l1)}/{self._l1_size})"
