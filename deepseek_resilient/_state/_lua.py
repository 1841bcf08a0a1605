"""The Lua scripts of the Redis store. Each runs atomically on the server and reads time
from the server (``TIME``), so every process and host sees one clock. Times are in ms.

Values read from Redis are bounded like local ones: a key of the wrong type (someone wrote
over it) is deleted and starts afresh; a field that is not a finite number (``inf``, ``nan``,
text) reads as absent; a time further ahead than the caps the caller passes (``max_open_for``,
``max_pause``, the probe timeout) is cut to the cap and written back. Scripts that repaired
something say so in their reply (the ``fixed`` element), so the client can log it once."""

from __future__ import annotations

__all__ = [
    "BREAKER_ADMIT",
    "BREAKER_RECORD",
    "BREAKER_WRITE",
    "LIMIT_ACQUIRE",
    "LIMIT_PAUSE",
    "LIMIT_RELEASE",
]

#: ``fin(x)``: x when it is a finite number, else nil (Lua's tonumber accepts inf and nan).
_FIN = """
local fixed = 0
local function fin(raw)
  local x = tonumber(raw)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then
    if raw then fixed = 1 end
    return nil
  end
  return x
end
"""

_NOW = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function num(x) return string.format('%.4f', x) end
"""
    + _FIN
)


def _own(index: int, kind: str) -> str:
    return f"""
local ty{index} = redis.call('TYPE', KEYS[{index}])['ok']
if ty{index} ~= 'none' and ty{index} ~= '{kind}' then redis.call('DEL', KEYS[{index}]) end
"""


#: KEYS: bucket hash, lease zset, peer zset, slot queue zset, queue expiry zset. ARGV: lease
#: id ('' = no concurrency limit), concurrency limit, lease ttl, max wait, max pause, bucket
#: count, then per bucket: name, rate per ms, capacity, debit, level needed; then the
#: client's id and the caller's priority rank (0 high, 1 normal, 2 low). Reply {admitted 0|1,
#: wait ms, peers, level fraction, fixed}: admitted with wait > 0 is a reservation (sleep,
#: then go); refused with wait -1 means no concurrency slot is free; peers counts the clients
#: that used this limit in the last 30 s; level fraction is min(level / capacity) over the
#: buckets after this call, negative when callers reserved ahead (at least -60): what a
#: process hands over to its local limiter, debt included.
LIMIT_ACQUIRE = (
    _NOW
    + _own(1, "hash")
    + _own(2, "zset")
    + _own(3, "zset")
    + _own(4, "zset")
    + _own(5, "zset")
    + """
local n = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '(' .. (now + 1000), '+inf')
redis.call('ZADD', KEYS[3], now, ARGV[7 + n * 5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 30000)
redis.call('PEXPIRE', KEYS[3], 60000)
local peers = tostring(redis.call('ZCARD', KEYS[3]))
local limit = tonumber(ARGV[2])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. (now + 3600000), '+inf')
end
local maxwait = tonumber(ARGV[4])
local maxpause = tonumber(ARGV[5])
local wait = 0
local rawpause = redis.call('HGET', KEYS[1], 'pause')
local pause = fin(rawpause)
if rawpause and not pause then redis.call('HDEL', KEYS[1], 'pause') end
if pause and pause > now + maxpause then
  pause = now + maxpause
  fixed = 1
  redis.call('HSET', KEYS[1], 'pause', num(pause))
end
if pause and pause > now then wait = pause - now end
local levels = {}
local longest = 0
local frac = 1
for i = 1, n do
  local b = 6 + (i - 1) * 5
  local name, rate, cap = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local need = tonumber(ARGV[b + 5])
  local lvl = fin(redis.call('HGET', KEYS[1], 'l:' .. name))
  local stamp = fin(redis.call('HGET', KEYS[1], 's:' .. name))
  if lvl and lvl < -(cap + rate * 600000) then lvl = nil; fixed = 1 end
  if not lvl or not stamp then lvl = cap; stamp = now end
  if stamp > now then stamp = now end
  lvl = math.min(cap, lvl + (now - stamp) * rate)
  levels[i] = lvl
  if lvl < need then
    local w = (need - lvl) / rate
    if w > wait then wait = w end
  end
  if cap / rate > longest then longest = cap / rate end
end
local me, rank = ARGV[1], tonumber(ARGV[8 + n * 5])
if limit > 0 then
  -- A fair queue for the slots: by priority, then first arrival; waiters that gave up lapse.
  local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 100)
  for _, g in ipairs(gone) do
    redis.call('ZREM', KEYS[4], g)
    redis.call('ZREM', KEYS[5], g)
  end
  local score = tonumber(redis.call('ZSCORE', KEYS[4], me)) or (rank * 1e14 + math.floor(now))
  local ahead = redis.call('ZCOUNT', KEYS[4], '-inf', string.format('(%.17g', score))
  if limit - redis.call('ZCARD', KEYS[2]) - ahead <= 0 then
    if rank < 2 and maxwait > 0 then  -- low priority never waits for a slot
      redis.call('ZADD', KEYS[4], 'NX', score, me)
      redis.call('ZADD', KEYS[5], now + maxwait + 1000, me)
      redis.call('PEXPIRE', KEYS[4], math.ceil(maxwait + 60000))
      redis.call('PEXPIRE', KEYS[5], math.ceil(maxwait + 60000))
    end
    return {0, '-1', peers, '0', fixed}
  end
end
if wait > maxwait then return {0, num(wait), peers, '0', fixed} end
for i = 1, n do
  local b = 6 + (i - 1) * 5
  local cap = tonumber(ARGV[b + 3])
  local left = levels[i] - tonumber(ARGV[b + 4])
  if left / cap < frac then frac = left / cap end
  redis.call('HSET', KEYS[1], 'l:' .. ARGV[b + 1], num(left), 's:' .. ARGV[b + 1], num(now))
end
redis.call('PEXPIRE', KEYS[1], math.ceil(longest + wait + 60000))
if limit > 0 then
  local ttl = tonumber(ARGV[3])
  redis.call('ZREM', KEYS[4], me)
  redis.call('ZREM', KEYS[5], me)
  redis.call('ZADD', KEYS[2], now + wait + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[2]) < wait + ttl then
    redis.call('PEXPIRE', KEYS[2], math.ceil(wait + ttl + 1000))
  end
end
return {1, num(wait), peers, num(math.max(-60, frac)), fixed}
"""
)

#: KEYS: bucket hash, lease zset, slot queue, queue expiry. ARGV: lease id ('' none), bucket
#: name ('' none), tokens to give back (negative: take more), that bucket's capacity.
LIMIT_RELEASE = (
    _FIN
    + _own(1, "hash")
    + _own(2, "zset")
    + """
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
end
if ARGV[2] ~= '' then
  local f = 'l:' .. ARGV[2]
  local lvl = fin(redis.call('HGET', KEYS[1], f))
  if lvl then
    local v = math.min(tonumber(ARGV[4]), lvl + tonumber(ARGV[3]))
    redis.call('HSET', KEYS[1], f, string.format('%.4f', v))
  end
end
return 1
"""
)

#: KEYS: bucket hash. ARGV: pause ms (the provider's Retry-After, already cut to
#: ``max_pause``, for every process).
LIMIT_PAUSE = (
    _NOW
    + _own(1, "hash")
    + """
local untill = now + tonumber(ARGV[1])
local cur = fin(redis.call('HGET', KEYS[1], 'pause'))
if not cur or cur < untill or cur > untill + tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'pause', num(untill))
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) + 60000))
end
return 1
"""
)

#: KEYS: breaker hash. ARGV: probe timeout ms, longest open period ms (``max_open_for``),
#: longest after an auth failure (``auth_open_for``), min calls, failure rate. Reply {kind,
#: ms, reopens, fails, fixed}: kind ``closed``; ``hold`` (closed, but the fleet's window with
#: the calls already out could reach the failure rate: refused, nothing changes); ``open``
#: (ms until a probe may go); ``busy`` (half-open, the probe is out); ``probe`` (this caller
#: is the one half-open probe, claimed atomically). ``fails``: failures in the fleet's window
#: (0: a success need not be written). A closed admission while the window holds failures
#: is counted out (field ``n``) until its outcome is recorded.
BREAKER_ADMIT = (
    _NOW
    + _own(1, "hash")
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'reopens', 'probe_until', 'w',
                     'auth', 'n')
local state = s[1]
local probe, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
if s[6] == '1' then cap = tonumber(ARGV[3]) end
if state ~= 'open' and state ~= 'half-open' then
  if state and state ~= 'closed' then redis.call('DEL', KEYS[1]); fixed = 1 end
  local fails, calls = 0, 0
  if state == 'closed' and s[5] then
    local _, c = string.gsub(s[5], '1', '')
    fails, calls = c, #s[5]
  end
  if fails > 0 then
    -- Failing, not tripped yet: calls already out may trip it. Admit no more than could.
    local out = fin(s[7]) or 0
    if out < 0 or out > 10000 then out = 0; fixed = 1 end
    if fails + out >= tonumber(ARGV[4]) and (fails + out) / (calls + out) >= tonumber(ARGV[5]) then
      return {'hold', '0', '0', tostring(fails), fixed}
    end
    redis.call('HINCRBY', KEYS[1], 'n', 1)
  end
  return {'closed', '0', '0', tostring(fails), fixed}
end
local reopens = fin(s[3]) or 0
if reopens < 0 or reopens > 64 then reopens = 0; fixed = 1 end
reopens = math.floor(reopens)
if state == 'open' then
  local untill = fin(s[2]) or 0
  if untill > now + cap then
    untill = now + cap
    fixed = 1
    redis.call('HSET', KEYS[1], 'open_until', num(untill))
  end
  if now < untill then return {'open', num(untill - now), tostring(reopens), '0', fixed} end
else
  local pu = fin(s[4]) or 0
  if pu > now + probe then pu = 0; fixed = 1 end
  if now < pu then return {'busy', num(pu - now), tostring(reopens), '0', fixed} end
end
redis.call('HSET', KEYS[1], 'state', 'half-open', 'probe_until', num(now + probe))
return {'probe', '0', tostring(reopens), '0', fixed}
"""
)

#: KEYS: breaker hash. ARGV: ``open`` period reopens auth(0|1) | ``closed`` | ``free`` (the probe
#: ended neutral: another caller may probe).
BREAKER_WRITE = (
    _NOW
    + _own(1, "hash")
    + """
local op = ARGV[1]
if op == 'open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', num(now + tonumber(ARGV[2])),
             'reopens', ARGV[3], 'probe_until', '0', 'w', '', 'auth', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) + 86400000))
elseif op == 'closed' then
  redis.call('DEL', KEYS[1])
elseif op == 'free' then
  if redis.call('HGET', KEYS[1], 'state') == 'half-open' then
    redis.call('HSET', KEYS[1], 'probe_until', '0')
  end
end
return 1
"""
)

#: KEYS: breaker hash. ARGV: outcome ('1' failure, '0' success, '-' neutral), window, min
#: calls, failure rate, open period ms, '1' when the call was counted out by the admission.
#: The fleet's failure window: the last ``window`` outcomes of every process, as a string of
#: '0'/'1'; reaching the failure rate opens the breaker for everyone.
#: Reply 1 when this outcome tripped it.
BREAKER_RECORD = (
    _NOW
    + _own(1, "hash")
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'w')
if s[1] == 'open' or s[1] == 'half-open' then return 0 end
if ARGV[6] == '1' then
  local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
  if n and n >= 1 and n <= 10000 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
end
if ARGV[1] == '-' then return 0 end
local w = (s[2] or '') .. ARGV[1]
if not string.match(w, '^[01]*$') then w = ARGV[1] end
local size = tonumber(ARGV[2])
if #w > size then w = string.sub(w, #w - size + 1) end
local _, fails = string.gsub(w, '1', '')
if fails > 0 and #w >= tonumber(ARGV[3]) and fails / #w >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', num(now + tonumber(ARGV[5])),
             'reopens', '0', 'probe_until', '0', 'w', '', 'auth', '0')
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[5]) + 86400000))
  return 1
end
if fails == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'state', 'closed', 'w', w)
  redis.call('PEXPIRE', KEYS[1], 600000)
end
return 0
"""
)
