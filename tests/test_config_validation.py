"""Configuration checked at construction (issue 12, items 10 and 11): a wrong type or value
is a ``ConfigurationError`` naming the field, never a crash or a hang later; a read-only
cache directory is reported as such and the client goes on without it."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _support import USER

from deepseek_resilient import (
    AsyncClient,
    Cache,
    CircuitBreaker,
    Client,
    ConfigurationError,
    Hedge,
    OpenAICompatible,
    RateLimit,
    Retry,
    RetryBudget,
)
from deepseek_resilient.testing import FakeProvider, FaultServer, InstantClock, Ok


def _oc(**options: Any) -> OpenAICompatible:
    base: dict[str, Any] = {"name": "p", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    return OpenAICompatible(**{**base, **options})


def _client(**options: Any) -> AsyncClient:
    return AsyncClient([FakeProvider("p")], **options)


CASES: list[tuple[str, Callable[[], object], str]] = [
    ("Retry(attempts='3')", lambda: Retry(attempts="3"), "attempts"),  # type: ignore[arg-type]
    ("Retry(base=None)", lambda: Retry(base=None), "base"),  # type: ignore[arg-type]
    ("Retry(attempts=True)", lambda: Retry(attempts=True), "attempts"),
    ("Retry(attempts=2.5)", lambda: Retry(attempts=2.5), "attempts"),  # type: ignore[arg-type]
    ("CB(slow_call='3')", lambda: CircuitBreaker(slow_call="3"), "slow_call"),  # type: ignore[arg-type]
    ("CB(window=10**20)", lambda: CircuitBreaker(window=10**20), "window"),
    ("RL(max_concurrency='3')", lambda: RateLimit(max_concurrency="3"), "max_concurrency"),  # type: ignore[arg-type]
    ("RL(max_pause=0)", lambda: RateLimit(max_pause=0), "max_pause"),
    ("Cache(ttl='1h')", lambda: Cache(ttl="1h"), "ttl"),  # type: ignore[arg-type]
    ("Cache(directory=3)", lambda: Cache(directory=3), "directory"),  # type: ignore[arg-type]
    ("Budget(ratio=[])", lambda: RetryBudget(ratio=[]), "ratio"),  # type: ignore[arg-type]
    ("Client(retry='x')", lambda: _client(retry="x"), "retry"),
    ("Client(breaker=5)", lambda: _client(breaker=5), "breaker"),
    ("Client(cache=True)", lambda: _client(cache=True), "cache"),
    ("Client(rate_limit={})", lambda: _client(rate_limit={}), "rate_limit"),
    ("Client(retry_budget=1)", lambda: _client(retry_budget=1), "retry_budget"),
    ("Client(timeout='60')", lambda: _client(timeout="60"), "timeout"),
    ("Client(failover_reserve='x')", lambda: _client(failover_reserve="x"), "failover_reserve"),
    ("Client(coalesce='yes')", lambda: _client(coalesce="yes"), "coalesce"),
    ("Client(clock=1)", lambda: _client(clock=1), "clock"),
    ("Client(providers='p')", lambda: AsyncClient("p"), "providers"),  # type: ignore[arg-type]
    ("sync Client(breaker=5)", lambda: Client([FakeProvider("p")], breaker=5), "breaker"),
    ("OC(name=None)", lambda: _oc(name=None), "name"),
    ("OC(base_url=None)", lambda: _oc(base_url=None), "base_url"),
    ("OC(base_url='http://a b/v1')", lambda: _oc(base_url="http://a b/v1"), "base_url"),
    ("OC(base_url='http:///v1')", lambda: _oc(base_url="http:///v1"), "host"),
    ("OC(base_url='http://h:99999')", lambda: _oc(base_url="http://h:99999/v1"), "base_url"),
    ("OC(base_url='ftp://h')", lambda: _oc(base_url="ftp://h"), "base_url"),
    ("OC(model=3)", lambda: _oc(model=3), "model"),
    ("OC(attempt_timeout=0)", lambda: _oc(attempt_timeout=0), "attempt_timeout"),
    ("OC(attempt_timeout=-1)", lambda: _oc(attempt_timeout=-1), "attempt_timeout"),
    ("OC(first_token_timeout=0)", lambda: _oc(first_token_timeout=0), "first_token_timeout"),
    ("OC(read_timeout='5')", lambda: _oc(read_timeout="5"), "read_timeout"),
    ("OC(max_connections=0)", lambda: _oc(max_connections=0), "max_connections"),
    ("OC(max_connections=-1)", lambda: _oc(max_connections=-1), "max_connections"),
    ("OC(max_keepalive_connections=-1)", lambda: _oc(max_keepalive_connections=-1), "keepalive"),
    ("OC(max_response_bytes=0)", lambda: _oc(max_response_bytes=0), "max_response_bytes"),
    ("OC(retry='x')", lambda: _oc(retry="x"), "retry"),
    ("OC(breaker=5)", lambda: _oc(breaker=5), "breaker"),
    ("OC(headers=[1])", lambda: _oc(headers=[1]), "headers"),
]


@pytest.mark.parametrize(("label", "build", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_a_configuration_error_naming_the_field(
    label: str, build: Callable[[], object], field: str
) -> None:
    with pytest.raises(ConfigurationError, match=field):
        build()


def test_good_config_still_builds() -> None:
    Retry(attempts=1, base=0, cap=1, max_retry_after=0)
    CircuitBreaker(window=10, slow_call=2, min_calls=1)
    RateLimit(max_concurrency=2, requests_per_second=1.5, max_pause=1)
    Cache(directory=Path("/tmp/x"), ttl=1, size_limit=10 * 2**30)  # 10 GiB is a size, not a typo
    _oc(attempt_timeout=1, first_token_timeout=0.5, max_connections=1, headers={"X-A": "b"})
    _oc(base_url="https://[::1]:8443/v1")
    _client(retry=Retry(), breaker=None, cache=None, rate_limit=RateLimit(), timeout=5)


@pytest.mark.parametrize("kind", [Retry, CircuitBreaker, RateLimit, Cache, RetryBudget, Hedge])
def test_configs_compare_hash_and_print_as_frozen_dataclasses(kind: type[Any]) -> None:
    # The configs share one repr/==/hash (import time): each behaves as the methods
    # @dataclass(frozen=True) would generate, compared here with such a twin.
    twin = dataclasses.make_dataclass(
        kind.__name__, [(f.name, f.type, f) for f in dataclasses.fields(kind)], frozen=True
    )
    first = dataclasses.fields(kind)[0].name
    a, b, other = kind(), kind(), dataclasses.replace(kind(), **{first: 7})
    ta, tb, tother = twin(), twin(), twin(**{first: 7})
    assert repr(a) == repr(ta).replace(twin.__qualname__, kind.__qualname__)
    assert (a == b, a == other, a != other, hash(a) == hash(b)) == (
        ta == tb, ta == tother, ta != tother, hash(ta) == hash(tb),
    )  # fmt: skip
    assert hash(a) == hash(ta) and a != ta and a != dataclasses.astuple(a)
    assert pickle.loads(pickle.dumps(other)) == other and {a, b, other} == {a, other}
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.__setattr__(first, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(a, first)
    assert copy.deepcopy(other) == other and kind.__dataclass_params__.frozen


@pytest.mark.parametrize("kind", [Retry, CircuitBreaker, RateLimit, Cache, RetryBudget, Hedge])
def test_each_config_init_is_the_one_dataclass_would_generate(kind: type[Any]) -> None:
    # Each config writes its __init__ out (import time): the same parameters as the frozen
    # dataclass's (names, order, kinds, defaults, types), each value lands in its own field,
    # and the checks run (__post_init__).
    fields = dataclasses.fields(kind)
    twin = dataclasses.make_dataclass(
        kind.__name__, [(f.name, f.type, f) for f in fields], frozen=True
    )
    ours = list(inspect.signature(kind).parameters.values())
    theirs = list(inspect.signature(twin).parameters.values())
    assert [(p.name, p.kind, p.default, p.annotation) for p in ours] == [
        (p.name, p.kind, p.default, p.annotation) for p in theirs
    ]
    values = [i + 1 for i in range(len(fields))]  # in range for every field
    if kind is Cache:
        values[2] = "/tmp/x"  # directory
    if kind is RateLimit:
        values[5:9] = [0.5, 0.1, 0.2, 0.3]  # the fractions
    if kind is CircuitBreaker:
        values[2] = 0.5  # failure_rate
    if kind is RetryBudget:
        values[0] = 0.5
    if kind is Hedge:
        values[1] = 0.5  # max_extra
    made = kind(*values)
    assert [getattr(made, f.name) for f in fields] == values
    assert made == kind(**{f.name: v for f, v in zip(fields, values)})
    with pytest.raises(ConfigurationError):
        kind(**{fields[0].name: -1})
    with pytest.raises(TypeError):
        kind(*values, 1)


# ----------------------------------------------------------------------------- item 11


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_cache_directory_is_not_writable_not_corrupt(
    tmp_path: Path, llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    _read_only_cache_case(tmp_path, llm_server, caplog, lambda: None)


def test_a_read_only_cache_directory_as_root(
    tmp_path: Path,
    llm_server: FaultServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Root ignores permission bits, so writability is simulated the only way root sees a
    read-only mount: ``os.access`` says no."""
    real = os.access

    def read_only() -> None:
        monkeypatch.setattr(
            "deepseek_resilient._policies.cache.files.os.access",
            lambda path, mode: False if mode & os.W_OK else real(path, mode),
        )

    _read_only_cache_case(tmp_path, llm_server, caplog, read_only)


def _read_only_cache_case(
    tmp_path: Path,
    llm_server: FaultServer,
    caplog: pytest.LogCaptureFixture,
    make_read_only: Callable[[], None],
) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    with Client([FakeProvider("warm")], cache=Cache(directory=directory)) as client:
        client.chat.completions.create(messages=USER, temperature=0)  # creates cache.db
    directory.chmod(0o500)
    (directory / "cache.db").chmod(0o400)
    make_read_only()
    llm_server.default = Ok("answered")
    provider = OpenAICompatible(name="p", base_url=llm_server.base_url, model="m")
    try:
        with caplog.at_level(logging.WARNING, logger="deepseek_resilient"):
            with Client([provider], cache=Cache(directory=directory), clock=InstantClock()) as c:
                for _ in range(3):
                    resp = c.chat.completions.create(messages=USER, temperature=0)
                    assert resp.choices[0].message.content == "answered"
    finally:
        directory.chmod(0o700)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "not writable" in warnings[0] and "corrupt" not in warnings[0]
    assert llm_server.calls == 3  # no cache: every call went upstream, none failed
