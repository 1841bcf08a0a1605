"""A provider's rate limit shared through Redis.

Admission has two steps. First this process's own ``ProviderRateLimiter`` (priority queue,
AIMD, pauses, the local concurrency count): it orders this process's callers exactly as
without Redis. Then one Lua round trip takes the shared buckets (requests/s, requests/min,
tokens/min) and a concurrency lease.

While Redis is unusable the local limiter is the whole limiter, at this process's share of
the limits: ``1/N``, N the declared fleet size (``RedisState(processes=N)``) or the clients
Redis last saw sharing the limit, whichever is larger. The switch is budget-neutral: the
local buckets start from what was left in the shared ones, and back on Redis what was taken
locally meanwhile is debited from the shared buckets. In that local mode (also before Redis
ever answered) each admission asks Redis first, so a share of less than one concurrency slot
(none, during an outage: calls queue and spill over rather than exceed) never blocks it.

The shared buckets *reserve*: when the next token is ``w`` seconds away and ``w`` fits the
caller's ``max_wait``, the script debits it now (the bucket may go below zero) and the caller
sleeps ``w`` and goes, with no second round trip; callers behind it see the debt and wait
longer. When ``w`` does not fit, nothing is taken and the caller spills over
(``RateLimitedLocally``). A concurrency lease is a member of a sorted set scored by its
expiry (``hold_for`` plus a margin): a process that dies mid-call frees its slots when the
call's deadline is past. When no slot is free, callers queue in Redis, by priority then
first arrival (a waiter lapses when its wait ends), and poll (10 ms, up to 100 ms): only
those at the head of the queue may take a freed slot. A ``low`` priority caller never
waits for a slot.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio

from .._core.clock import Clock
from .._core.config import RateLimit
from .._core.errors import RateLimitedLocally
from .._policies.rate_limit.layer import Permit, Priority, ProviderRateLimiter
from . import _lua, admission
from ._limit_reply import Ask, breaker_first, parse_limit, refusal
from ._link import RedisLink

__all__ = ["SharedRateLimiter"]

#: Seconds a concurrency lease outlives the call's own deadline.
LEASE_MARGIN = 5.0
#: The longest a lease may be held (the scripts drop leases scored further ahead).
MAX_HOLD = 3600.0 - LEASE_MARGIN
_RANKS = {"high": "0", "normal": "1", "low": "2"}
_POLL_FIRST = 0.01
_POLL_MAX = 0.1


class SharedPermit:
    """A permit from both the local limiter and the shared one."""

    __slots__ = ("_lease", "_limiter", "_local", "_released", "waited")

    def __init__(
        self, limiter: SharedRateLimiter, local: Permit, lease: str, shared_wait: float = 0.0
    ) -> None:
        self._limiter = limiter
        self._local = local
        self._lease = lease
        self._released = False
        #: Seconds this call waited for admission (locally, then for the shared quota).
        self.waited = local.waited + shared_wait

    @property
    def tokens(self) -> int:
        return self._local.tokens

    def release(self, *, used_tokens: int | None = None) -> None:
        if self._released:
            return
        self._released = True
        self._local.release(used_tokens=used_tokens)
        self._limiter._release_shared(self._lease, self._local.tokens, used_tokens)


class SharedRateLimiter:
    """The ``RateLimiterStore`` of one provider on Redis (see the module docstring)."""

    def __init__(
        self,
        provider: str,
        config: RateLimit,
        clock: Clock,
        link: RedisLink,
        processes: int | None = None,
    ) -> None:
        self.provider = provider
        self.config = config
        self.local = ProviderRateLimiter(provider, config, clock)
        self._link = link
        self._keys = [
            link.key("cb", provider),  # the breaker's (for its admission fused with ours)
            link.key("rl", provider),
            link.key("rl", provider, "leases"),
            link.key("rl", provider, "peers"),
            link.key("rl", provider, "queue"),
            link.key("rl", provider, "queue-exp"),
        ]
        self._id = uuid.uuid4().hex
        self._processes = processes or 1  # the declared fleet size
        self._peers = 1  # clients sharing this limit, as Redis last reported
        self._shared = any(
            v is not None
            for v in (
                config.requests_per_second,
                config.requests_per_minute,
                config.tokens_per_minute,
                config.max_concurrency,
            )
        )
        # Until Redis confirms the shared buckets, this process enforces only its share.
        self._local_mode = False
        self._frac = 1.0  # the shared buckets' level (fraction) after our last admission
        self._used = [0.0, 0.0, 0.0]  # per bucket, taken locally since the fallback began
        if self._shared:
            self._go_local()

    def _buckets(self, tokens: int, priority: Priority, owed: list[float]) -> list[str]:
        """The script's per-bucket arguments at the local AIMD factor (rates per ms); ``owed``
        adds to each debit what this process took locally while Redis was out."""
        cfg = self.config
        factor = self.local.snapshot_factor()
        headroom = cfg.low_priority_headroom if priority == "low" else 0.0
        specs: list[tuple[str, float, float, float]] = []
        burst = float(cfg.burst) if cfg.burst is not None else None
        if cfg.requests_per_second is not None:
            rps = cfg.requests_per_second
            specs.append(("rps", rps / 1000.0, burst or max(1.0, rps), 1.0))
        if cfg.requests_per_minute is not None:
            rpm = cfg.requests_per_minute
            specs.append(("rpm", rpm / 60_000.0, burst or max(1.0, rpm), 1.0))
        if cfg.tokens_per_minute is not None:
            tpm = cfg.tokens_per_minute
            specs.append(("tpm", tpm / 60_000.0, tpm, float(tokens)))
        out: list[str] = [str(len(specs))]
        for i, (name, rate, cap, debit) in enumerate(specs):
            cap = max(1.0, cap * factor)
            need = min(cap, debit + headroom * cap)
            extra = owed[i] if i < len(owed) else 0.0
            out += [name, repr(rate * factor), repr(cap), repr(debit + extra), repr(need)]
        return out

    def _fleet(self) -> int:
        """The processes sharing this limit: the declared fleet, or more if Redis saw more."""
        return max(self._processes, self._peers)

    def _go_local(self) -> None:
        """Fall back to this process's share of the limits, starting from what was left in
        the shared buckets (never a fresh full bucket on top of it)."""
        self.local.set_share(1.0 / self._fleet())
        if not self._local_mode:
            self._local_mode = True
            self._used = [0.0, 0.0, 0.0]
            self.local.hand_over(self._frac)

    def _took_locally(self, permit: Permit) -> None:
        if self._local_mode and not permit.released:
            for i, debit in enumerate(self._debits(permit.tokens)):
                self._used[i] += debit

    def _debits(self, tokens: int) -> list[float]:
        cfg = self.config
        out = [1.0 for v in (cfg.requests_per_second, cfg.requests_per_minute) if v is not None]
        return out + ([float(tokens)] if cfg.tokens_per_minute is not None else [])

    async def acquire(
        self,
        *,
        tokens: int,
        max_wait: float,
        priority: Priority = "normal",
        hold_for: float | None = None,
    ) -> Permit | SharedPermit:
        started = time.monotonic()
        ticket = admission.take(self._same_provider)  # the breaker's admission, left to us
        ask = Ask(started, max_wait, priority, hold_for, max(0, tokens))
        if not self._shared or not self._link.up:
            if ticket is not None:  # no round trip of ours: the breaker admits on its own
                await ticket.breaker.admit()
            if not self._shared:
                return await self.local.acquire(tokens=tokens, max_wait=max_wait, priority=priority)
            self._go_local()
            return await self._local_acquire(ask)
        ask.ticket = ticket
        if self._local_mode:
            return await self._shared_acquire(None, ask)
        permit = await self.local.acquire(tokens=tokens, max_wait=max_wait, priority=priority)
        return await self._shared_acquire(permit, ask)

    async def _local_acquire(self, ask: Ask) -> Permit | SharedPermit:
        """This process's share alone (Redis unusable). A caller that waited in the local
        queue until Redis answered again is admitted by the shared buckets too: the local
        limiter is back at the full limits then, and alone it would add a bucket per process."""
        permit = await self.local.acquire(
            tokens=ask.tokens, max_wait=ask.left(), priority=ask.priority
        )
        if not self._local_mode and self._link.up:
            return await self._shared_acquire(permit, ask)
        self._took_locally(permit)
        return permit

    def _owe(self, ask: Ask) -> None:
        """Back from local state: this caller's admission pays what this process took
        locally meanwhile (once: the next caller does not pay it again)."""
        owed = self.local.hand_over(1.0)
        ask.owed = [min(u, d) for u, d in zip(self._used, owed, strict=False)]
        self._used = _plus(self._used, ask.owed, -1.0)

    async def _shared_acquire(self, permit: Permit | None, ask: Ask) -> Permit | SharedPermit:
        """The shared admission (``permit``: this process's, already taken; None: take it
        after the shared one, or alone if Redis does not answer)."""
        concurrency = self.config.max_concurrency or 0
        lease = uuid.uuid4().hex if concurrency else ""
        poll = _POLL_FIRST
        try:
            if ask.ticket is not None:
                await ask.ticket.breaker.settle_writes()
            while True:
                left = ask.left()
                if self._local_mode and not ask.owed:
                    self._owe(ask)
                reply = await self._link.run("rate limit", self._script(permit, ask, lease))
                reply = breaker_first(reply, ask.ticket)
                admitted, wait_ms, peers, frac = parse_limit(reply, self._link, left * 1000.0)
                if admitted is None:  # Redis unusable: this process's share alone
                    self._go_local()
                    self._used = _plus(self._used, ask.owed, 1.0)
                    ask.owed = []  # not paid
                    if permit is not None:  # taken at the full limits: ask again at the share
                        permit.release()
                    return await self._local_acquire(ask)
                self._peers = peers
                if admitted:
                    return await self._admitted(permit, ask, lease, wait_ms, frac)
                if wait_ms < 0 and ask.priority != "low" and left > 0:
                    await anyio.sleep(min(poll, left))
                    poll = min(_POLL_MAX, poll * 2)
                    continue
                raise RateLimitedLocally(refusal(wait_ms), provider=self.provider)
        except BaseException:
            if permit is not None and not permit.released:  # give everything back
                self.local.undo(permit)
            if lease:  # leave the slot queue (or give the slot back) at once
                self._release_shared(lease, 0, None)
            raise

    def _same_provider(self, breaker: Any) -> bool:
        return bool(breaker._link is self._link and breaker.provider == self.provider)

    def _script(self, permit: Permit | None, ask: Ask, lease: str) -> Any:
        tokens = permit.tokens if permit is not None else ask.tokens
        hold = min(MAX_HOLD, ask.hold_for if ask.hold_for is not None else ask.max_wait)
        ticket = ask.ticket
        front = ticket.breaker.admit_args if ticket is not None and not ticket.settled else []
        args = [str(len(front)), *front]
        args += [lease, str(self.config.max_concurrency or 0)]
        args += [repr(1000.0 * (hold + LEASE_MARGIN))]
        args += [repr(ask.left() * 1000.0), repr(self.config.max_pause * 1000.0)]
        args += [*self._buckets(tokens, ask.priority, ask.owed), self._id, _RANKS[ask.priority]]
        return self._link.call(admission.ADMIT, self._keys, args)

    async def _admitted(
        self, permit: Permit | None, ask: Ask, lease: str, wait_ms: float, frac: float
    ) -> SharedPermit:
        if self._local_mode:  # the shared buckets answer again (and were paid)
            self._local_mode = False
            self.local.set_share(1.0)
        self._frac = frac
        if permit is None:  # this process's own order and backstop, at the full limits now
            permit = await self.local.acquire(
                tokens=ask.tokens, max_wait=ask.left(), priority=ask.priority
            )
        if wait_ms > 0:
            await anyio.sleep(wait_ms / 1000.0)
        return SharedPermit(self, permit, lease, wait_ms / 1000.0)

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.local.on_rate_limited(retry_after)
        if retry_after is not None and retry_after > 0:  # every process pauses
            ms = min(retry_after, self.config.max_pause) * 1e3  # inf, 1e300: capped
            pause = self._link.call(_lua.LIMIT_PAUSE, self._keys[1:2], [repr(ms)])
            self._link.spawn("rate-limit pause", pause)

    def on_success(self) -> None:
        self.local.on_success()

    def snapshot(self) -> dict[str, float]:
        """This process's view (see ``ProviderRateLimiter.snapshot``)."""
        return self.local.snapshot()

    def _release_shared(self, lease: str, estimate: int, used: int | None) -> None:
        refund = ""
        give = 0.0
        cap = 0.0
        tpm = self.config.tokens_per_minute
        if tpm is not None and used is not None:
            refund, give = "tpm", float(estimate - max(0, used))
            cap = max(1.0, tpm * self.local.snapshot_factor())
        if not lease and not refund:
            return
        args = [lease, refund, repr(give), repr(cap)]
        keys = [self._keys[1], self._keys[2], self._keys[4], self._keys[5]]
        release = self._link.call(_lua.LIMIT_RELEASE, keys, args)
        self._link.spawn("rate-limit release", release)

    def __repr__(self) -> str:
        return f"SharedRateLimiter({self.provider!r}, {self.config!r})"


def _plus(used: list[float], owed: list[float], sign: float) -> list[float]:
    """``used`` with ``sign * owed`` added bucket by bucket (``owed`` may be shorter)."""
    return [u + sign * (owed[i] if i < len(owed) else 0.0) for i, u in enumerate(used)]
