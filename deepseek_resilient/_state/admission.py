"""The admission seam of the Redis store: two layers' round trips made as one.

A request that misses the cache would wait for four Redis round trips: the cache read, the
merge claim, the breaker's admission and the rate limit's. Each layer still owns its part;
the stores fuse the parts pairwise, in one Lua script each, so a request waits for two:

* **Cache read + merge claim** (``ANSWER_READ``). The cache layer tells its store that the
  call goes on to be merged across processes (``CacheStore.get(key, merging=True)``); on a
  miss the script also makes the merge claim, and the store hands its reply to the
  ``FlightStore`` through ``Claims``: a lease won (``lead``) is kept per key, so whichever
  task of this process leads the merge for that key uses it (none is left to lapse; a
  follower polling for a result takes it over too); a result or a wait is not kept (the
  merge asks again: the rare case).
* **Breaker admission + rate limit** (``ADMIT``). The breaker layer tells its store that the
  provider's rate limiter comes next in the same task (``BreakerStore.admit(
  with_limiter=True)``); a breaker this process sees closed (the hot path; a half-open or
  open one makes its own round trip, so a probe never waits in a queue) then only leaves a
  ``Ticket`` (a context variable), and
  the limiter's script checks the breaker first: refused (open, probe out, fleet hold), it
  takes no capacity and the limiter raises the breaker's ``CircuitOpenError``, which the
  breaker layer passes on without counting it; else it admits as before. Every path of the
  limiter settles the ticket (its own script, or the breaker's own round trip or in-process
  state when the limiter does not use Redis for that call).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._lua import BREAKER_ADMIT, LIMIT_ACQUIRE
from ._lua_answers import CACHE_READ, FLIGHT_CLAIM

if TYPE_CHECKING:
    from .redis_breaker import SharedBreaker

__all__ = ["ADMIT", "ANSWER_READ", "Claims", "Ticket", "defer", "take", "unadmitted"]


def _function(name: str, source: str) -> str:
    """A whole script as a local Lua function of (KEYS, ARGV): its preamble stays its own."""
    return f"local function {name}(KEYS, ARGV)\n{source}\nend\n"


#: KEYS: breaker hash, then ``LIMIT_ACQUIRE``'s. ARGV: the breaker's argument count (0: no
#: breaker part), ``BREAKER_ADMIT``'s arguments, then ``LIMIT_ACQUIRE``'s. Reply {breaker
#: reply or nil, limit reply or nil}: the limit is not tried when the breaker refuses.
ADMIT = (
    _function("breaker", BREAKER_ADMIT)
    + _function("limit", LIMIT_ACQUIRE)
    + """
local nb = tonumber(ARGV[1])
local b = false
if nb > 0 then
  local bargs = {}
  for i = 1, nb do bargs[i] = ARGV[1 + i] end
  b = breaker({KEYS[1]}, bargs)
  if b[1] ~= 'closed' and b[1] ~= 'probe' then return {b, false} end
end
local lkeys, largs = {}, {}
for i = 2, #KEYS do lkeys[#lkeys + 1] = KEYS[i] end
for i = nb + 2, #ARGV do largs[#largs + 1] = ARGV[i] end
return {b, limit(lkeys, largs)}
"""
)

#: KEYS: cache entry, merge lease, merge result. ARGV: ``CACHE_READ``'s argument, then
#: ``FLIGHT_CLAIM``'s. Reply {cache reply, claim reply or nil}: the claim is made only when
#: the cache holds no entry.
ANSWER_READ = (
    _function("cache", CACHE_READ)
    + _function("claim", FLIGHT_CLAIM)
    + """
local c = cache({KEYS[1]}, {ARGV[1]})
if c then return {c, false} end
return {false, claim({KEYS[2], KEYS[3]}, {ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})}
"""
)


# ----------------------------------------------------------------------------- breaker + limit


class Ticket:
    """A breaker admission left for the rate limiter's round trip (``settled``: made)."""

    __slots__ = ("breaker", "settled")

    def __init__(self, breaker: SharedBreaker) -> None:
        self.breaker = breaker
        self.settled = False


_TICKET: ContextVar[Ticket | None] = ContextVar("deepseek_resilient_breaker_ticket", default=None)


def defer(breaker: SharedBreaker | None) -> None:
    """The breaker's admission of this task's current call: left to the rate limiter
    (``breaker``), or made already (None)."""
    _TICKET.set(Ticket(breaker) if breaker is not None else None)


def take(breaker_of: Any) -> Ticket | None:
    """The unsettled ticket of this task's call for the breaker ``breaker_of`` accepts
    (a predicate on the breaker: same link and provider), else None."""
    ticket = _TICKET.get()
    if ticket is None or ticket.settled or not breaker_of(ticket.breaker):
        return None
    return ticket


def unadmitted(breaker: SharedBreaker) -> bool:
    """True (once) when this task's call left its admission to the rate limiter and the
    limiter refused before making it: that call's outcome is nobody's (nothing to record)."""
    ticket = _TICKET.get()
    if ticket is None or ticket.breaker is not breaker or ticket.settled:
        return False
    _TICKET.set(None)
    return True


# ----------------------------------------------------------------------------- cache + merge


class Claims:
    """Merge claims made by cache reads, for the ``FlightStore`` of the same client."""

    __slots__ = ("_leads", "args")

    def __init__(self) -> None:
        #: Leases won by a cache read and not used yet, by request key: a lease is used by
        #: whichever task leads the merge of that key in this process.
        self._leads: dict[str, str] = {}
        #: ``FLIGHT_CLAIM``'s arguments after the token (lease ttl, joined, reuse window,
        #: largest result), set when the client's ``FlightStore`` is made; None: no merging.
        self.args: list[str] | None = None

    def offer(self, key: str, token: str, reply: Any) -> None:
        """A cache read's claim reply for ``key`` (``token``: the lease it holds if it won).
        Only a lease won is kept: a result or a wait is asked again by the merge itself
        (the rare case: another process is calling, or has just answered, the same)."""
        if isinstance(reply, list) and reply and reply[0] == b"lead":
            self._leads[key] = token

    def lead(self, key: str) -> str | None:
        """A lease on ``key`` won in this process and not used yet (now this caller's)."""
        return self._leads.pop(key, None)
