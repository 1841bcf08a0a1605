"""Which Redis a ``RedisState`` talks to: a URL (checked when the state is built) or a ready
redis-py asyncio client, and what to say when the first connection shows it cannot work.

URLs:

* ``redis://[user:password@]host[:port][/db]`` and ``unix:///path/to/socket``;
* ``rediss://…``: TLS; redis-py's query options, e.g. ``?ssl_ca_certs=/etc/ca.pem``
  (``ssl_certfile``, ``ssl_keyfile`` for client certificates, ``ssl_cert_reqs=required``,
  ``ssl_check_hostname=true``);
* ``redis+cluster://host:port`` (``rediss+cluster://``): a Redis Cluster, any node to start;
* ``redis+sentinel://[:password@]host:port[,host:port…]/service[/db]``: the master that the
  Sentinels name ``service``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["build_client", "check_url", "explain", "is_client"]

_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel")


def is_client(value: object) -> bool:
    """A ready redis-py asyncio client (``Redis``, ``RedisCluster`` or a Sentinel's master)."""
    try:
        from redis.asyncio import Redis, RedisCluster
    except ImportError:  # pragma: no cover - RedisState checks for redis-py first
        return False
    return isinstance(value, (Redis, RedisCluster))


def check_url(url: str) -> None:
    """Refuse a URL that cannot work, with the reason (``ConfigurationError``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            "RedisState url must start with redis://, rediss://, unix://, redis+cluster://, "
            "rediss+cluster:// or redis+sentinel://"
        )
    if scheme == "redis+sentinel":
        _sentinel_parts(url)
        return
    from redis.asyncio.connection import parse_url

    plain = url.replace("+cluster://", "://", 1)
    try:
        parse_url(plain)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"RedisState url is not usable: {exc}") from None


def _sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int, str | None]:
    """(sentinels, service, db, password) of a ``redis+sentinel://`` URL."""
    rest = url.split("://", 1)[1]
    password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[-1]) or None
    hosts, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if not hosts or not parts or len(parts) > 2:
        raise ConfigurationError(
            "a Sentinel URL is redis+sentinel://host:port[,host:port…]/service[/db]"
        )
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"Sentinel address {item!r} must be host:port")
        sentinels.append((host.strip("[]"), int(port)))
    db = parts[1] if len(parts) > 1 else "0"
    if not db.isdigit():
        raise ConfigurationError(f"Sentinel URL database {db!r} must be a number")
    return sentinels, parts[0], int(db), password


def build_client(url: str, **options: Any) -> Redis:
    """A redis-py asyncio client for ``url`` (``options``: pool and connection settings)."""
    from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

    scheme = url.split("://", 1)[0].lower()
    if scheme.endswith("+cluster"):
        # No custom parser per node here: RedisCluster builds its own connections.
        cluster_options = {k: v for k, v in options.items() if k not in ("timeout", "parser_class")}
        plain = url.replace("+cluster://", "://", 1)
        cluster = RedisCluster.from_url(plain, **cluster_options)
        return cast("Redis", cluster)  # RedisCluster speaks the same commands and scripts
    if scheme == "redis+sentinel":
        from redis.asyncio.sentinel import Sentinel

        sentinels, service, db, password = _sentinel_parts(url)
        conn = {k: v for k, v in options.items() if k not in ("timeout", "max_connections")}
        sentinel = Sentinel(
            sentinels,
            sentinel_kwargs={"socket_timeout": conn.get("socket_timeout")},
            password=password,
            db=db,
            **conn,
        )
        master: Redis = sentinel.master_for(service)
        return master
    # A blocking pool: past max_connections an operation waits (within its deadline) for a
    # free connection instead of failing.
    pool = BlockingConnectionPool.from_url(url, **options)
    return Redis(connection_pool=pool)


def explain(exc: BaseException) -> str | None:
    """A setup problem the first connection revealed, said plainly (None: an outage)."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "moved" in low or "crossslot" in low or "clusterdown" in low:
        return (
            "this Redis is a cluster node: use a redis+cluster:// URL or pass a RedisCluster client"
        )
    if "certificate verify failed" in low or ("ssl" in low and "verify" in low):
        return "TLS certificate verification failed: give the CA with ?ssl_ca_certs=/path/ca.pem"
    if "wrong version number" in low or ("ssl" in low and "record" in low):
        return "TLS mismatch: use rediss:// for a TLS port and redis:// for a plain one"
    if "noauth" in low or "wrongpass" in low or "invalid password" in low:
        return "authentication failed: check the user name and password in the URL"
    if "no master" in low or "masternotfound" in low:
        return "the Sentinels know no master by that service name"
    return None
