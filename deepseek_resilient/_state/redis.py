"""``RedisState``: share quotas, breakers, the cache and in-flight calls through Redis.

``RedisState`` itself is a small frozen description (URL, namespace, timeouts); each client
binds it to its own event loop and connection pool (``bind``). See docs/scaling.md.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from .redis_store import RedisStore

__all__ = ["RedisState"]

_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class RedisState:
    """Shared state on Redis for every client given the same ``url`` and ``namespace``:
    rate limits (Lua, atomic), breakers (one cluster-wide probe), the answer cache (an
    in-process LRU over Redis) and the merging of identical in-flight requests.

    Redis is never a single point of failure: when it is down, slow or answers garbage,
    each client goes on with in-process state, logs one WARNING on the
    ``deepseek_resilient`` logger, and tries Redis again after ``retry_interval`` seconds.

    "Slow" is adaptive: an operation may take ``srtt + 4 * rttvar`` of the latencies seen,
    at least ``op_timeout`` and at most ``max_op_timeout`` (the first one, which connects:
    ``max_op_timeout``); a timer that fires late because this process did not run (a CPU
    stall) waits once more; Redis is declared degraded only after two timeouts in a row.

    While Redis is unusable each process enforces only its share of every limit:
    ``1 / processes`` (the declared fleet size, or more when Redis last reported more
    clients sharing the limit), starting from what was left in the shared buckets; when
    Redis answers again, what each process took meanwhile is debited from the shared
    buckets. A concurrency limit smaller than the fleet gives a process no slot of its own
    during an outage: its calls queue (up to their wait) rather than exceed the limit.

    ``url``: ``redis://``, ``rediss://`` (TLS; ``?ssl_ca_certs=/path/ca.pem`` and redis-py's
    other ``ssl_*`` options), ``unix://``, ``redis+cluster://`` (Redis Cluster: every key
    carries the ``{namespace}`` hash tag, so a namespace lives in one slot) or
    ``redis+sentinel://host:port[,host:port…]/service[/db]``; a URL that cannot work is
    refused here, and a setup problem the first connection shows (a cluster node behind a
    plain URL, a TLS certificate not verified, a wrong password) is logged as an ERROR
    saying what to change. Or a ready ``redis.asyncio.Redis`` / ``RedisCluster`` client
    (used as it is on the client's event loop, and not closed by it).

    Pass it as ``Client(state=RedisState(...))``; it needs the
    ``redis`` extra (``pip install 'deepseek-resilient[redis]'``) and asyncio.
    """

    def __init__(
        self,
        url: str | Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "deepseek_resilient",
        processes: int | None = None,
        op_timeout: float = 0.25,
        max_op_timeout: float = 2.0,
        retry_interval: float = 1.0,
        l1_size: int = 256,
        lease_ttl: float = 3.0,
        result_ttl: float = 10.0,
        max_connections: int = 64,
        max_value_bytes: int = 8 << 20,
    ) -> None:
        if importlib.util.find_spec("redis") is None:
            raise ConfigurationError(
                "RedisState needs redis-py: pip install 'deepseek-resilient[redis]'"
            )
        from ._connect import check_url, is_client

        self.client: Any = url if is_client(url) else None
        if self.client is None:
            if not isinstance(url, str):
                raise ConfigurationError(
                    "RedisState takes a URL or a redis.asyncio Redis / RedisCluster client"
                )
            check_url(url)
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise ConfigurationError(
                "RedisState namespace must be 1-64 characters of letters, digits, _ . -"
            )
        for name, value in (
            ("op_timeout", op_timeout),
            ("max_op_timeout", max_op_timeout),
            ("retry_interval", retry_interval),
            ("lease_ttl", lease_ttl),
            ("result_ttl", result_ttl),
        ):
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ConfigurationError(f"RedisState {name} must be a positive number: {value!r}")
        if processes is not None and not (isinstance(processes, int) and processes >= 1):
            raise ConfigurationError(f"RedisState processes must be an int >= 1: {processes!r}")
        for name, count in (
            ("l1_size", l1_size),
            ("max_connections", max_connections),
            ("max_value_bytes", max_value_bytes),
        ):
            if not (isinstance(count, int) and count >= 1):
                raise ConfigurationError(f"RedisState {name} must be an int >= 1: {count!r}")
        self.url = url if self.client is None else f"<{type(url).__name__} client>"
        self.namespace = namespace
        self.processes = processes
        self.op_timeout = float(op_timeout)
        self.max_op_timeout = max(float(max_op_timeout), self.op_timeout)
        self.retry_interval = float(retry_interval)
        self.l1_size = l1_size
        self.lease_ttl = float(lease_ttl)
        self.result_ttl = float(result_ttl)
        self.max_connections = max_connections
        self.max_value_bytes = max_value_bytes

    def __repr__(self) -> str:
        from ._link import redacted

        where = redacted(self.url) if self.client is None else self.url
        return f"RedisState({where!r}, namespace={self.namespace!r})"

    def bind(self, on_degraded: Callable[[str, str], None] | None = None) -> RedisStore:
        """A store for one client (its own connection pool, opened on first use);
        ``on_degraded(store, reason)`` hears of each outage."""
        # The Redis-backed stores load here, not with the package: most clients never use them.
        from ._link import RedisLink
        from .redis_store import RedisStore

        link = RedisLink(
            self.url,
            self.namespace,
            op_timeout=self.op_timeout,
            max_op_timeout=self.max_op_timeout,
            retry_interval=self.retry_interval,
            max_connections=self.max_connections,
            max_value_bytes=self.max_value_bytes,
            on_degraded=on_degraded,
            client=self.client,
        )
        return RedisStore(self, link)
