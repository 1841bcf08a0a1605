"""The cache's cheap paths give what the general ones give: the plain-request key partitions
requests as the canonical key does, and the SQL lookup / batched upsert make and read the rows
diskcache's own ``get`` / ``set`` do (count, size, overwrite, other processes' reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diskcache
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_resilient._core.config import Cache
from deepseek_resilient._models import ChatRequest
from deepseek_resilient._policies.cache import key as key_module
from deepseek_resilient._policies.cache.disk import _JsonOnlyDisk
from deepseek_resilient._policies.cache.layer import ResponseCache, request_key
from deepseek_resilient._policies.cache.rows import read_value, write_values

CHAIN = ["deepseek|deepseek-chat|https://api.deepseek.com", "local|smollm2|"]

_FIELDS = {
    "temperature": st.sampled_from([0, 0.0, 0.5, 1]),
    "seed": st.none() | st.integers(0, 3),
    "max_tokens": st.none() | st.integers(1, 3),
    "top_p": st.none() | st.sampled_from([0.5, 1.0]),
    "user": st.none() | st.sampled_from(["alice", "bob"]),
    "stream": st.booleans(),
    "model": st.sampled_from(["deepseek-chat", "deepseek-reasoner"]),
    "max_completion_tokens": st.none() | st.integers(1, 3),
    "n": st.none() | st.integers(1, 2),
    "frequency_penalty": st.none() | st.sampled_from([0, 0.0, -0.0, 0.5]),
    "presence_penalty": st.none() | st.sampled_from([0.0, 1]),
    "user_id": st.none() | st.sampled_from(["alice", "bob", 'é\n"x']),
}
_messages = st.lists(
    st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text(max_size=8)),
    min_size=1,
    max_size=3,
)


def _request(messages: list[tuple[str, str]], fields: dict[str, Any]) -> ChatRequest:
    msgs = [{"role": role, "content": text} for role, text in messages]
    return ChatRequest.model_validate(
        {"messages": msgs, **{k: v for k, v in fields.items() if v is not None}}
    )


@settings(max_examples=200, deadline=None)
@given(
    a=st.tuples(_messages, st.fixed_dictionaries(_FIELDS)),
    b_messages=st.none() | _messages,
    b_fields=st.fixed_dictionaries({}, optional=_FIELDS),
)
def test_plain_keys_are_equal_exactly_when_canonical_keys_are(
    a: Any, b_messages: Any, b_fields: dict[str, Any]
) -> None:
    """b is a with some fields (and maybe its messages) drawn again: often an equal request."""
    ra = _request(*a)
    rb = _request(a[0] if b_messages is None else b_messages, {**a[1], **b_fields})
    assert ra.is_plain_text() and rb.is_plain_text()
    same_canonical = key_module._canonical_key(ra, CHAIN) == key_module._canonical_key(rb, CHAIN)
    assert (request_key(ra, CHAIN) == request_key(rb, CHAIN)) == same_canonical
    assert request_key(ra, CHAIN) != request_key(ra, CHAIN[:1])
    assert request_key(ra, CHAIN) != key_module._canonical_key(ra, CHAIN)


@pytest.mark.parametrize("name", sorted(_FIELDS))
def test_each_plain_field_changes_the_key_exactly_when_it_changes_the_canonical_key(
    name: str,
) -> None:
    base = {"temperature": 0, "model": "deepseek-chat"}
    values = [None, 0, 0.0, 0.5, 1, 2, 3, True, False, "alice", "bob", "deepseek-reasoner"]
    for a in values:
        for b in values:
            try:
                ra = _request([("user", "Hi")], {**base, name: a})
                rb = _request([("user", "Hi")], {**base, name: b})
            except ValueError:  # not a valid value for this field
                continue
            same = key_module._canonical_key(ra, CHAIN) == key_module._canonical_key(rb, CHAIN)
            assert (request_key(ra, CHAIN) == request_key(rb, CHAIN)) == same, (a, b)


def test_a_callers_dict_order_never_changes_the_key() -> None:
    schema_a = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"a": 1, "b": 2}}}
    schema_b = {"json_schema": {"schema": {"b": 2, "a": 1}, "name": "x"}, "type": "json_schema"}
    ra = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "Hi"}], "response_format": schema_a}
    )
    rb = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "Hi"}], "response_format": schema_b}
    )
    assert not ra.is_plain_text()
    assert request_key(ra, CHAIN) == request_key(rb, CHAIN)
    extra_a = _one({"role": "user", "content": "Hi", "meta": {"a": 1, "b": 2}})
    extra_b = _one({"role": "user", "content": "Hi", "meta": {"b": 2, "a": 1}})
    assert request_key(extra_a, CHAIN) == request_key(extra_b, CHAIN)
    named = _one({"role": "user", "content": "Hi", "name": "ann"})
    assert not named.is_plain_text()


def _one(message: dict[str, Any]) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [message]})


@pytest.fixture
def disk(tmp_path: Path) -> Any:
    """diskcache's own Cache on the directory, with our disk and settings (via ResponseCache)."""
    rc = ResponseCache(Cache(directory=tmp_path))
    rc.stats()  # opens it
    yield rc._cache
    rc.close()


def test_the_batched_upsert_makes_the_rows_diskcache_set_makes(disk: Any) -> None:
    write_values(disk, {"a": b'{"x":1}', "b": b'{"x":2}'})
    disk.set("c", b'{"x":3}')
    assert len(disk) == 3
    assert [disk.get(k) for k in "abc"] == [b'{"x":1}', b'{"x":2}', b'{"x":3}']
    assert [read_value(disk, k) for k in "abcd"] == [b'{"x":1}', b'{"x":2}', b'{"x":3}', None]
    columns = "raw, expire_time, access_count, tag, size, mode, filename"
    rows = disk._sql(f"SELECT key, {columns} FROM Cache ORDER BY key").fetchall()
    assert {row[1:] for row in rows} == {(1, None, 0, None, 0, 1, None)}


def test_an_upsert_over_an_entry_replaces_it_and_keeps_the_count(disk: Any) -> None:
    write_values(disk, {"a": b"1", "b": b"2"})
    volume = disk.volume()
    write_values(disk, {"a": b"3"})
    disk.set("b", b"4")
    assert len(disk) == 2 and disk.volume() == volume
    assert (read_value(disk, "a"), read_value(disk, "b")) == (b"3", b"4")
    stored = disk._sql("SELECT store_time FROM Cache ORDER BY store_time").fetchall()
    assert len(stored) == 2


def test_a_failed_batch_writes_nothing(disk: Any) -> None:
    with pytest.raises(TypeError):
        write_values(disk, {"a": b"1", "b": "not bytes"})  # type: ignore[dict-item]
    assert len(disk) == 0 and not disk._con.in_transaction


def test_a_batch_waits_for_the_write_lock_then_times_out(tmp_path: Path) -> None:
    rc = ResponseCache(Cache(directory=tmp_path, lock_timeout=0.05))
    rc.stats()
    other = diskcache.Cache(str(tmp_path), disk=_JsonOnlyDisk, timeout=0.05)
    try:
        with other.transact():  # another connection holds the write lock
            other.set("held", b"1")
            with pytest.raises(diskcache.Timeout):
                write_values(rc._cache, {"a": b"1"})
        assert read_value(rc._cache, "held") == b"1" and read_value(rc._cache, "a") is None
    finally:
        other.close()
        rc.close()
