"""Client-side rate limiting of one provider: token buckets, a concurrency cap, AIMD on 429,
priority admission and spill-over.

Buckets: ``requests_per_second``, ``requests_per_minute`` (1 token per request) and
``tokens_per_minute`` (the request's estimated tokens). Each refills continuously at its
rate; a fresh bucket holds one period's budget (``burst`` overrides it for the request
buckets). ``max_concurrency`` caps calls in flight.

Admission is a priority queue: ``high`` before ``normal`` before ``low``, FIFO within a
priority, and only the head of the queue may be admitted (no overtaking). On arrival the
limiter projects when the request would be admitted behind everyone ahead of it; if that is
later than ``max_wait`` it raises ``RateLimitedLocally`` at once without waiting (spill over to
the next provider). Waiters pushed past their own deadline by later, higher-priority arrivals,
by a pause or by an AIMD decrease are shed at once too. ``low`` is shed first: it must leave
``low_priority_headroom`` of every bucket and of the concurrency free, and it never waits for
a concurrency slot.

A 429 (``on_rate_limited``) multiplies the effective rates and concurrency by
``decrease_factor`` (at most once a second, so a burst of 429s from calls already in flight
counts once) and pauses the whole provider for the server's ``Retry-After``; each success
(``on_success``) gives back ``increase_step`` of the configured rates (AIMD).

Time comes from the injected ``Clock``. Waiting for a concurrency slot is woken by the
release, and bounded by ``max_wait`` with an anyio timeout. One limiter serves one event loop.
"""

from __future__ import annotations

import math

import anyio

from ..._core.clock import Clock
from ..._core.config import RateLimit
from ..._core.errors import RateLimitedLocally
from . import buckets
from .buckets import _EPS, _NOOP_PERMIT, _RANK, Permit, Priority, _Bucket, _Waiter

__all__ = ["ProviderRateLimiter"]

_DECREASE_COOLDOWN = 1.0


class ProviderRateLimiter:
    """The client-side limiter of one provider."""

    def __init__(self, provider: str, config: RateLimit, clock: Clock) -> None:
        self.provider = provider
        self.config = config
        self._clock = clock
        now = clock.now()
        self._request_buckets: list[_Bucket] = []
        burst = float(config.burst) if config.burst is not None else None
        if config.requests_per_second is not None:
            rate = config.requests_per_second
            cap = burst if burst is not None else max(1.0, rate)
            self._request_buckets.append(_Bucket(rate, cap, now, min_capacity=1.0))
        if config.requests_per_minute is not None:
            rate = config.requests_per_minute / 60.0
            cap = burst if burst is not None else max(1.0, config.requests_per_minute)
            self._request_buckets.append(_Bucket(rate, cap, now, min_capacity=1.0))
        self._token_bucket: _Bucket | None = None
        if config.tokens_per_minute is not None:
            tpm = config.tokens_per_minute
            self._token_bucket = _Bucket(tpm / 60.0, tpm, now, min_capacity=1.0)
        self._buckets = [*self._request_buckets]
        if self._token_bucket is not None:
            self._buckets.append(self._token_bucket)
        self._max_concurrency = config.max_concurrency
        self._concurrency = config.max_concurrency
        self._in_flight = 0
        self._limited = bool(self._buckets) or self._max_concurrency is not None
        self._factor = 1.0
        self._share = 1.0  # the part of the limits this process enforces (see set_share)
        self._last_decrease = -math.inf
        self._paused_until = -math.inf
        self._queue: list[_Waiter] = []
        self._seq = 0

    # ------------------------------------------------------------------ public

    async def acquire(
        self,
        *,
        tokens: int,
        max_wait: float,
        priority: Priority = "normal",
        hold_for: float | None = None,
    ) -> Permit:
        """Wait (at most ``max_wait`` seconds) for admission and return a ``Permit``.
        (``hold_for``, the longest the call may run, matters only to a shared store.)

        Raises ``RateLimitedLocally`` at once, without waiting, when admission is projected
        later than ``max_wait``; or when waiting is cut short because higher-priority work,
        a pause or a lower rate pushed this request past its deadline."""
        now = self._clock.now()
        if now >= self._paused_until:
            if not self._limited:
                return _NOOP_PERMIT
            if not self._queue:  # nobody waits: admitted now, or queued as below
                permit = self._admit_now(max(0, tokens), _RANK[priority], now)
                if permit is not None:
                    return permit
        rank = _RANK[priority]
        w = _Waiter(
            rank=rank, seq=self._seq, tokens=max(0, tokens), deadline=now + max_wait, arrived=now
        )
        self._seq += 1
        self._insert(w)
        self._reschedule(now)
        try:
            while True:
                if w.admitted is not None:
                    return w.admitted
                if w.shed is not None:
                    raise RateLimitedLocally(w.shed, provider=self.provider)
                timed_out = await self._wait(w)
                if not w.done:
                    now = self._clock.now()
                    self._reschedule(now)
                    if not w.done and (timed_out or now >= w.deadline - _EPS):
                        self._drop(w, f"no admission within {max_wait:.2f}s", now)
        except BaseException:
            if w.admitted is not None:  # admitted, but the caller never got the permit
                self._undo(w.admitted)
            elif not w.done:
                self._drop(w, "cancelled", self._clock.now())
            raise

    def on_rate_limited(self, retry_after: float | None) -> None:
        """The provider answered 429: shrink the effective limits (AIMD) and pause the
        provider for ``retry_after`` seconds (None: no pause)."""
        now = self._clock.now()
        if retry_after is not None and retry_after > 0:
            retry_after = min(retry_after, self.config.max_pause)  # an absurd hint is capped
            self._paused_until = max(self._paused_until, now + retry_after)
        if now - self._last_decrease >= _DECREASE_COOLDOWN:
            self._last_decrease = now
            self._set_factor(
                max(self.config.min_factor, self._factor * self.config.decrease_factor)
            )
        self._reschedule(now)

    def on_success(self) -> None:
        """A call succeeded: grow the effective limits back toward the configured ones."""
        if self._factor < 1.0:
            self._set_factor(min(1.0, self._factor + self.config.increase_step))
            self._reschedule(self._clock.now())

    def snapshot_factor(self) -> float:
        """The AIMD factor now (1.0: the configured limits)."""
        return self._factor

    def snapshot(self) -> dict[str, float]:
        """Current effective limits and state (``inf``: unlimited)."""
        now = self._clock.now()
        for b in self._buckets:
            b.refill(now)
        rps = rpm = math.inf
        if self.config.requests_per_second is not None:
            rps = self._request_buckets[0].rate
        if self.config.requests_per_minute is not None:
            rpm = self._request_buckets[-1].rate * 60.0
        tb = self._token_bucket
        return {
            "factor": self._factor,
            "requests_per_second": rps,
            "requests_per_minute": rpm,
            "tokens_per_minute": tb.rate * 60.0 if tb else math.inf,
            "concurrency": math.inf if self._concurrency is None else float(self._concurrency),
            "in_flight": float(self._in_flight),
            "requests_available": min((b.level for b in self._request_buckets), default=math.inf),
            "tokens_available": tb.level if tb else math.inf,
            "paused_for": max(0.0, self._paused_until - now),
            "waiting": float(len(self._queue)),
        }

    # ------------------------------------------------------------------ scheduling

    def _admit_now(self, tokens: int, rank: int, now: float) -> Permit | None:
        """With nobody queued and no pause: what ``_reschedule`` grants a lone waiter at once
        (a free slot, every bucket full enough), with no waiter queued; None: it must queue."""
        limit = self._slot_limit(rank)
        if limit is not None and self._in_flight >= limit:
            return None
        headroom = self.config.low_priority_headroom if rank == 2 else 0.0
        token_bucket = self._token_bucket
        for b in self._buckets:
            b.refill(now)
            debit = float(tokens) if b is token_bucket else 1.0
            if b.level < min(b.capacity, debit + headroom * b.capacity) - _EPS:
                return None
        for b in self._buckets:
            b.level -= float(tokens) if b is token_bucket else 1.0
        self._in_flight += 1
        self._seq += 1
        return Permit(self, tokens, admitted_at=now, waited=0.0)

    def _insert(self, w: _Waiter) -> None:
        q = self._queue
        i = len(q)
        while i > 0 and q[i - 1].rank > w.rank:
            i -= 1
        q.insert(i, w)

    def _needs(self, w: _Waiter) -> list[tuple[_Bucket, float, float]]:
        """Per bucket: (bucket, level required to admit, amount debited)."""
        headroom = self.config.low_priority_headroom if w.rank == 2 else 0.0
        out = []
        for b in self._buckets:
            debit = float(w.tokens) if b is self._token_bucket else 1.0
            need = min(b.capacity, debit + headroom * b.capacity)
            out.append((b, need, debit))
        return out

    def _slot_limit(self, rank: int) -> int | None:
        c = self._concurrency
        if c is None:
            return None
        if rank == 2 and c:
            return max(1, math.floor(c * (1.0 - self.config.low_priority_headroom) + _EPS))
        return c

    def _reschedule(self, now: float) -> None:
        """Admit the admissible head(s) of the queue, project everyone else's admission
        time, shed those who cannot make their deadline, and wake whoever must act."""
        for b in self._buckets:
            b.refill(now)
        levels = {id(b): b.level for b in self._buckets}
        t = max(now, self._paused_until)
        slots_used = self._in_flight
        prefix = True  # still admitting for real at the head of the queue
        woken: list[_Waiter] = []
        kept: list[_Waiter] = []
        for w in self._queue:
            needs = self._needs(w)
            limit = self._slot_limit(w.rank)
            slot_free = limit is None or slots_used < limit
            eta = buckets._projected(needs, levels, now, t)
            if prefix and slot_free and eta <= now + _EPS:
                for b, _, debit in needs:
                    b.level -= debit
                    levels[id(b)] = b.level
                self._in_flight += 1
                slots_used += 1
                w.admitted = Permit(self, w.tokens, admitted_at=now, waited=now - w.arrived)
                woken.append(w)
                continue
            prefix = False
            w.shed = buckets._shed_reason(w, slot_free, eta, now)
            if w.shed is not None:
                woken.append(w)
                continue
            # Reserve this waiter's share in the projection, so those behind queue after it.
            for b, _, debit in needs:
                lvl = min(b.capacity, levels[id(b)] + (eta - now) * b.rate)
                levels[id(b)] = lvl - debit - (eta - now) * b.rate
            t = eta
            slots_used += 1
            w.eta = eta if slot_free else None
            kept.append(w)
            target = w.eta if w.eta is not None else w.deadline
            if target < w.wake_at - _EPS:
                woken.append(w)  # it sleeps too long now: wake it to sleep again, shorter
        self._queue = kept
        for w in woken:
            if w.scope is not None:
                w.scope.cancel()

    async def _wait(self, w: _Waiter) -> bool:
        """Sleep until the projected admission (on the Clock) or, when waiting for a slot,
        until the deadline (anyio timeout); a reschedule cancels the wait to wake it.
        True when a slot wait ran out its time without being woken."""
        now = self._clock.now()
        eta = w.eta
        slot_wait = eta is None
        with anyio.CancelScope() as scope:
            w.scope = scope
            if eta is not None:
                w.wake_at = min(eta, w.deadline)
                await self._clock.sleep(max(0.0, w.wake_at - now))
            else:
                w.wake_at = w.deadline
                await anyio.sleep(max(0.0, w.deadline - now))
        w.scope = None
        w.wake_at = math.inf
        return slot_wait and not scope.cancelled_caught

    def _drop(self, w: _Waiter, reason: str, now: float) -> None:
        if w in self._queue:
            self._queue.remove(w)
        w.shed = reason
        self._reschedule(now)

    # ------------------------------------------------------------------ AIMD and release

    def set_share(self, share: float) -> None:
        """Enforce only ``share`` (0 < share <= 1) of the limits: this process's part of a
        quota it normally shares with others (a shared store's fallback while it is out)."""
        share = min(1.0, max(1e-6, share))
        if share != self._share:
            self._share = share
            self._set_factor(self._factor)
            if self._queue:
                self._reschedule(self._clock.now())

    def hand_over(self, fraction: float) -> list[float]:
        """Buckets at most ``fraction`` of this share; returns their deficits (share - level)."""
        now, scale = self._clock.now(), self._factor * self._share
        return [b.hand_over(now, scale, fraction) for b in self._buckets]

    def _set_factor(self, factor: float) -> None:
        now = self._clock.now()
        scale = factor * self._share
        for b in self._buckets:
            b.refill(now)
            b.scale(scale)
        self._factor = factor
        if self._max_concurrency is not None:
            least = int(self._share >= 1.0)  # a fleet share below one slot is none: queue
            self._concurrency = max(least, math.floor(self._max_concurrency * scale + _EPS))

    def _release(self, permit: Permit, used_tokens: int | None) -> None:
        self._in_flight -= 1
        tb = self._token_bucket
        now = self._clock.now()
        if tb is not None and used_tokens is not None:
            tb.refill(now)
            tb.level = min(tb.capacity, tb.level + permit.tokens - max(0, used_tokens))
        if self._queue:
            self._reschedule(now)

    def undo(self, permit: Permit) -> None:
        """Give back everything ``permit`` took: its call never went out."""
        if not permit._released:
            self._undo(permit)

    def _undo(self, permit: Permit) -> None:
        """Give back everything a permit took: its call never went out."""
        permit._released = True
        self._in_flight -= 1
        now = self._clock.now()
        for b in self._buckets:
            b.refill(now)
            b.level = min(b.capacity, b.level + (permit.tokens if b is self._token_bucket else 1))
        if self._queue:
            self._reschedule(now)

    def __repr__(self) -> str:
        return f"ProviderRateLimiter({self.provider!r}, {self.config!r})"
