"""The Lua scripts of the answer cache and of merging across processes (the conventions are
those of :mod:`._lua`: server time, values bounded, keys of the wrong type replaced)."""

from __future__ import annotations

from ._lua import _NOW, _own

__all__ = ["CACHE_READ", "FLIGHT_CLAIM", "FLIGHT_END", "FLIGHT_EXTEND"]

#: KEYS: a cache entry. ARGV: the largest value accepted (bytes). Reply: the value, nil
#: (absent) or 0 (not ours or too large: deleted).
CACHE_READ = """
local ty = redis.call('TYPE', KEYS[1])['ok']
if ty == 'none' then return false end
if ty ~= 'string' or redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 0
end
return redis.call('GET', KEYS[1])
"""

#: KEYS: lease, result. ARGV: token, lease ttl, joined (server ms of this caller's first
#: ``wait``; '0' before), reuse window ms, largest result accepted (bytes). A published result
#: is used only by a caller that was waiting when it was published, or within the reuse
#: window (the caller's cache TTL; 0 without a cache). Reply {'result', json} | {'lead'} |
#: {'wait', joined}.
FLIGHT_CLAIM = (
    _NOW
    + _own(1, "string")
    + _own(2, "hash")
    + """
local at = fin(redis.call('HGET', KEYS[2], 'at'))
if at then
  local joined = tonumber(ARGV[3])
  if at <= now + 1000 and ((joined > 0 and at >= joined) or now - at <= tonumber(ARGV[4])) then
    if redis.call('HSTRLEN', KEYS[2], 'doc') > tonumber(ARGV[5]) then
      redis.call('DEL', KEYS[2])
    else
      local doc = redis.call('HGET', KEYS[2], 'doc')
      if doc then return {'result', doc} end
    end
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lead'} end
if tonumber(ARGV[3]) > 0 then return {'wait', ARGV[3]} end
return {'wait', num(now)}
"""
)

#: KEYS: lease. ARGV: token, ttl. Extends the lease while its holder still owns it.
FLIGHT_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

#: KEYS: lease, result. ARGV: token, result json ('' on failure), result ttl. The result is
#: stamped with the server's time of publication.
FLIGHT_END = (
    _NOW
    + _own(2, "hash")
    + """
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], 'at', num(now), 'doc', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
)
