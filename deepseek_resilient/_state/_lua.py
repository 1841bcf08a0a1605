"""The Lua scripts of the Redis store. Each runs atomically on the server and reads time
from the server (``TIME``), so every process and host sees one clock. Times are in ms.

A key of the wrong type (someone wrote over it) is deleted and starts afresh; a field that is
not a number reads as absent."""

from __future__ import annotations

__all__ = [
    "BREAKER_ADMIT",
    "BREAKER_WRITE",
    "FLIGHT_CLAIM",
    "FLIGHT_END",
    "FLIGHT_EXTEND",
    "LIMIT_ACQUIRE",
    "LIMIT_PAUSE",
    "LIMIT_RELEASE",
]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function num(x) return string.format('%.4f', x) end
"""


def _own(index: int, kind: str) -> str:
    return f"""
local ty{index} = redis.call('TYPE', KEYS[{index}])['ok']
if ty{index} ~= 'none' and ty{index} ~= '{kind}' then redis.call('DEL', KEYS[{index}]) end
"""


#: KEYS: bucket hash, lease zset, peer zset. ARGV: lease id ('' = no concurrency limit),
#: concurrency limit, lease ttl, max wait, bucket count, then per bucket: name, rate per ms,
#: capacity, debit, level needed; then the client's id. Reply {admitted 0|1, wait ms, peers}:
#: admitted with wait > 0 is a reservation (sleep, then go); refused with wait -1 means no
#: concurrency slot is free; peers counts the clients that used this limit in the last 30 s.
LIMIT_ACQUIRE = (
    _NOW
    + _own(1, "hash")
    + _own(2, "zset")
    + _own(3, "zset")
    + """
local n = tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[6 + n * 5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 30000)
redis.call('PEXPIRE', KEYS[3], 60000)
local peers = tostring(redis.call('ZCARD', KEYS[3]))
local limit = tonumber(ARGV[2])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= limit then return {0, '-1', peers} end
end
local maxwait = tonumber(ARGV[4])
local wait = 0
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause'))
if pause and pause > now then wait = pause - now end
local levels = {}
local longest = 0
for i = 1, n do
  local b = 5 + (i - 1) * 5
  local name, rate, cap = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local need = tonumber(ARGV[b + 5])
  local lvl = tonumber(redis.call('HGET', KEYS[1], 'l:' .. name))
  local stamp = tonumber(redis.call('HGET', KEYS[1], 's:' .. name))
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
if wait > maxwait then return {0, num(wait), peers} end
for i = 1, n do
  local b = 5 + (i - 1) * 5
  redis.call('HSET', KEYS[1], 'l:' .. ARGV[b + 1], num(levels[i] - tonumber(ARGV[b + 4])),
             's:' .. ARGV[b + 1], num(now))
end
redis.call('PEXPIRE', KEYS[1], math.ceil(longest + wait + 60000))
if limit > 0 then
  local ttl = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[2], now + wait + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[2]) < wait + ttl then
    redis.call('PEXPIRE', KEYS[2], math.ceil(wait + ttl + 1000))
  end
end
return {1, num(wait), peers}
"""
)

#: KEYS: bucket hash, lease zset. ARGV: lease id ('' none), bucket name ('' none), tokens
#: to give back (negative: take more), that bucket's capacity.
LIMIT_RELEASE = (
    _own(1, "hash")
    + _own(2, "zset")
    + """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[2], ARGV[1]) end
if ARGV[2] ~= '' then
  local f = 'l:' .. ARGV[2]
  local lvl = tonumber(redis.call('HGET', KEYS[1], f))
  if lvl then
    local v = math.min(tonumber(ARGV[4]), lvl + tonumber(ARGV[3]))
    redis.call('HSET', KEYS[1], f, string.format('%.4f', v))
  end
end
return 1
"""
)

#: KEYS: bucket hash. ARGV: pause ms (the provider's Retry-After, for every process).
LIMIT_PAUSE = (
    _NOW
    + _own(1, "hash")
    + """
local untill = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'pause'))
if not cur or cur < untill then redis.call('HSET', KEYS[1], 'pause', num(untill)) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) + 60000))
end
return 1
"""
)

#: KEYS: breaker hash. ARGV: probe timeout. Reply {kind, ms, reopens}: kind ``closed``;
#: ``open`` (ms until a probe may go); ``busy`` (half-open, the probe is out); ``probe``
#: (this caller is the one half-open probe, claimed atomically).
BREAKER_ADMIT = (
    _NOW
    + _own(1, "hash")
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'reopens', 'probe_until')
local state = s[1]
if state ~= 'open' and state ~= 'half-open' then
  if state then redis.call('DEL', KEYS[1]) end
  return {'closed', '0', '0'}
end
local reopens = tonumber(s[3]) or 0
if state == 'open' then
  local untill = tonumber(s[2]) or 0
  if now < untill then return {'open', num(untill - now), tostring(reopens)} end
else
  local pu = tonumber(s[4]) or 0
  if now < pu then return {'busy', num(pu - now), tostring(reopens)} end
end
redis.call('HSET', KEYS[1], 'state', 'half-open', 'probe_until', num(now + tonumber(ARGV[1])))
return {'probe', '0', tostring(reopens)}
"""
)

#: KEYS: breaker hash. ARGV: ``open`` period reopens | ``closed`` | ``free`` (the probe
#: ended neutral: another caller may probe).
BREAKER_WRITE = (
    _NOW
    + _own(1, "hash")
    + """
local op = ARGV[1]
if op == 'open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', num(now + tonumber(ARGV[2])),
             'reopens', ARGV[3], 'probe_until', '0')
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

#: KEYS: lease, result. ARGV: token, lease ttl. Reply {'result', json} | {'lead'} | {'wait'}.
FLIGHT_CLAIM = (
    _own(1, "string")
    + _own(2, "string")
    + """
local r = redis.call('GET', KEYS[2])
if r then return {'result', r} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lead'} end
return {'wait'}
"""
)

#: KEYS: lease. ARGV: token, ttl. Extends the lease while its holder still owns it.
FLIGHT_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

#: KEYS: lease, result. ARGV: token, result json ('' on failure), result ttl.
FLIGHT_END = """
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
