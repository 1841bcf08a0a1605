"""Deployments beyond one plain Redis, each against real servers on loopback: a ready client,
a 3-master Redis Cluster, a Sentinel with one master, TLS with a CA made in the test; and URLs
that cannot work, refused at construction or reported clearly at first connect."""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis as redis_py
import redis.asyncio as aredis
from _redis_support import NS, PREFIX, ask, client

from deepseek_resilient import Cache, ConfigurationError, RateLimit, RedisState
from deepseek_resilient.testing import FaultServer, RedisServer
from deepseek_resilient.testing._redis import redis_server_binaries


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _missing(what: str) -> NoReturn:
    """Skipped on a machine without ``what``; under CI (``CI`` set: .ci/run installs it) a
    failure, so CI never passes by skipping a deployment."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (.ci/run installs it)")
    pytest.skip(what)


def _binary(name: str = "redis-server") -> str:
    found = redis_server_binaries(name)
    if not found:
        _missing(f"no {name} binary")
    return found[0]


async def _use(server: FaultServer, url: str, **options: Any) -> None:
    """Three requests through the shared limiter, breaker, cache and merging."""
    rate = RateLimit(requests_per_second=100, max_concurrency=4)
    async with client(server, url, cache=Cache(ttl=60), rate_limit=rate, **options) as c:
        for i in range(3):
            resp = await c.chat.completions.create(**ask(f"deploy {i % 2}", temperature=0))
            assert resp.choices[0].message.content
        link = getattr(c._store, "link")
        assert link.outages == 0, "shared state was not used"


# ------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:6379",
        "redis://localhost:notaport/0",
        "redis+sentinel://localhost:26379",  # no service name
        "redis+sentinel://localhost/mymaster",  # no port
        "redis+sentinel://localhost:26379/mymaster/x",
    ],
)
def test_urls_that_cannot_work_are_refused_at_construction(url: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisState(url)


def test_urls_that_can_work_are_accepted() -> None:
    for url in (
        "redis://:secret@cache:6380/2",
        "rediss://cache:6380/0?ssl_ca_certs=/etc/ca.pem",
        "unix:///run/redis.sock",
        "redis+cluster://node-1:7000",
        "redis+sentinel://:pw@s1:26379,s2:26379/mymaster/1",
    ):
        assert "secret" not in repr(RedisState(url))


# ------------------------------------------------------------------ a ready client


@pytest.mark.anyio
async def test_a_ready_client_is_used_and_left_open(
    llm_server: FaultServer, redis_url: str
) -> None:
    ready = aredis.Redis.from_url(redis_url)
    state = RedisState(ready, namespace=NS)
    assert "Redis client" in repr(state)
    await _use(llm_server, redis_url, state=state)
    assert await ready.keys(f"{PREFIX}cache:*")  # written through it; and it is still open
    await ready.aclose()


# ------------------------------------------------------------------ Redis Cluster


@pytest.fixture
def cluster() -> Iterator[list[RedisServer]]:
    binary, cli = _binary(), _binary("redis-cli")
    args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    nodes = [RedisServer(binary, args=args) for _ in range(3)]
    try:
        for node in nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        for node in nodes:  # bounded polling until every node agrees the cluster is up
            conn = redis_py.Redis(port=node.port)
            while conn.cluster("info").get("cluster_state") != "ok":
                assert time.monotonic() < deadline, "cluster did not form"
                time.sleep(0.05)
            conn.close()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.anyio
async def test_redis_cluster_with_three_masters(
    llm_server: FaultServer, cluster: list[RedisServer]
) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}"
    await _use(llm_server, url, state=RedisState(url, namespace=NS))
    holders = [n for n in cluster if redis_py.Redis(port=n.port).keys(f"{PREFIX}*")]
    assert len(holders) == 1  # the {namespace} hash tag: every key in one slot


@pytest.mark.anyio
async def test_a_plain_url_to_a_cluster_node_is_reported_clearly(
    llm_server: FaultServer, cluster: list[RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="deepseek_resilient")
    finder = redis_py.RedisCluster(host="127.0.0.1", port=cluster[0].port)
    owner = finder.get_node_from_key(f"{PREFIX}x").port
    finder.close()
    url = next(n.url for n in cluster if n.port != owner)  # a node without the namespace's slot
    rate = RateLimit(requests_per_second=100)
    async with client(llm_server, url, rate_limit=rate) as c:
        resp = await c.chat.completions.create(**ask("plain", temperature=0.7))
        assert resp.choices[0].message.content  # never a failed request
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("redis+cluster://" in m for m in errors), errors


# ------------------------------------------------------------------ Sentinel


@pytest.mark.anyio
async def test_sentinel_with_one_master(llm_server: FaultServer) -> None:
    binary = _binary()
    with RedisServer(binary) as master:
        with RedisServer(binary, sentinel=("127.0.0.1", master.port, "mymaster")) as sentinel:
            url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0"
            await _use(llm_server, url, state=RedisState(url, namespace=NS))
            assert redis_py.Redis(port=master.port).keys(f"{PREFIX}cache:*")


# ------------------------------------------------------------------ TLS


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str, str]:
    """A CA made here, and a server certificate for 127.0.0.1 signed by it."""
    try:
        from cryptography import x509
    except ImportError:
        _missing("cryptography is not installed")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject: str, key: Any, issuer: Any, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            import ipaddress

            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_cert = cert("test CA", ca_key, ca_name, ca_key, True)
    server_cert = cert("127.0.0.1", key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    paths = (tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.crt")
    paths[0].write_bytes(server_cert.public_bytes(pem))
    paths[1].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths[2].write_bytes(ca_cert.public_bytes(pem))
    return str(paths[0]), str(paths[1]), str(paths[2])


@pytest.fixture
def tls_server(tls_files: tuple[str, str, str]) -> Iterator[RedisServer]:
    for binary in redis_server_binaries():
        server = RedisServer(binary, tls=tls_files, startup_timeout=5.0)
        try:
            server.start()
        except RuntimeError:
            server.stop()
            continue  # built without TLS
        try:
            yield server
        finally:
            server.stop()
        return
    _missing("no redis-server built with TLS (apt-get install redis-server)")


@pytest.mark.anyio
async def test_tls_with_a_ca(llm_server: FaultServer, tls_server: RedisServer) -> None:
    url = tls_server.url  # rediss://127.0.0.1:port/0?ssl_ca_certs=<the CA>
    await _use(llm_server, url, state=RedisState(url, namespace=NS))


@pytest.mark.anyio
async def test_tls_without_the_ca_is_reported_clearly(
    llm_server: FaultServer, tls_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="deepseek_resilient")
    url = tls_server.url.split("?")[0]  # no CA: the server's certificate cannot be verified
    async with client(llm_server, url, rate_limit=RateLimit(requests_per_second=10)) as c:
        resp = await c.chat.completions.create(**ask("tls", temperature=0.7))
        assert resp.choices[0].message.content
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("ssl_ca_certs" in m for m in errors), errors
