"""The disk cache: keys, TTL on a fake clock, stale-if-error, eviction, tampering, processes."""

from __future__ import annotations

import builtins
import multiprocessing
import os
import pickle
import sqlite3
import stat
from pathlib import Path
from typing import Any

import diskcache
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_resilient._core.config import Cache
from deepseek_resilient._models import ChatCompletion, ChatRequest
from deepseek_resilient._policies.cache.disk import _JsonOnlyDisk, _TamperedEntry
from deepseek_resilient._policies.cache.files import ENV_DIR
from deepseek_resilient._policies.cache.layer import (
    CachedAnswer,
    ResponseCache,
    WallClock,
    is_cacheable,
    mode_reads,
    mode_writes,
)
from deepseek_resilient.testing._clock import FakeClock

CHAIN = ["deepseek|deepseek-chat|https://api.deepseek.com", "local|smollm2|"]


def make_request(content: str = "Hi", **kw: Any) -> ChatRequest:
    kw.setdefault("temperature", 0)
    return ChatRequest(messages=[{"role": "user", "content": content}], **kw)


def make_completion(text: str = "Hello!", **extra: Any) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "cmpl-1",
            "created": 1700000000,
            "model": "deepseek-chat",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "reasoning_content": "hm"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 2,
                "total_tokens": 5,
                "prompt_cache_hit_tokens": 1,
            },
            **extra,
        }
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def cache(cache_dir: Path, clock: FakeClock) -> Any:
    rc = ResponseCache(Cache(directory=cache_dir, ttl=100, stale_if_error=50), clock)
    yield rc
    rc.close()


def db_path(directory: Path) -> Path:
    return directory / "cache.db"


# ----------------------------------------------------------------------------- keys


def test_key_is_stable_and_ignores_fields_that_do_not_change_the_answer(cache: Any) -> None:
    base = cache.key(make_request(), CHAIN)
    assert len(base) == 64 and int(base, 16) >= 0
    assert cache.key(make_request(), CHAIN) == base
    assert cache.key(make_request(stream=True), CHAIN) == base
    assert cache.key(make_request(user="alice"), CHAIN) == base
    assert cache.key(make_request(max_tokens=None), CHAIN) == base
    assert cache.key(make_request(temperature=0.0), CHAIN) == base


@pytest.mark.parametrize(
    "change",
    [
        {"content": "Hi!"},
        {"temperature": 0.5, "seed": 1},
        {"seed": 7},
        {"max_tokens": 10},
        {"stop": ["\n"]},
        {"model": "deepseek-reasoner"},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"extra_body": {"thinking": {"type": "enabled"}}},
    ],
)
def test_key_changes_with_anything_that_changes_the_answer(cache: Any, change: dict) -> None:
    assert cache.key(make_request(**change), CHAIN) != cache.key(make_request(), CHAIN)


def test_key_depends_on_the_provider_chain(cache: Any) -> None:
    req = make_request()
    assert cache.key(req, CHAIN) != cache.key(req, CHAIN[:1])
    assert cache.key(req, CHAIN) != cache.key(req, list(reversed(CHAIN)))


@settings(max_examples=60, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40), user=st.text(max_size=10))
def test_key_property_equal_iff_content_equal(
    tmp_path_factory: pytest.TempPathFactory, a: str, b: str, user: str
) -> None:
    tmp_path = tmp_path_factory.getbasetemp()
    rc = ResponseCache(Cache(directory=tmp_path / "unused"))
    ka = rc.key(make_request(a, user=user or None), CHAIN)
    kb = rc.key(make_request(b, stream=True), CHAIN)
    assert (ka == kb) == (a == b)
    assert not (tmp_path / "unused").exists()  # computing keys never touches the disk


def test_cacheable_and_modes() -> None:
    assert is_cacheable(make_request(temperature=0))
    assert is_cacheable(make_request(temperature=1, seed=3))
    assert not is_cacheable(make_request(temperature=0.7))
    assert [mode_reads(m) for m in ("use", "refresh", "bypass", "no-store")] == [
        True,
        False,
        False,
        True,
    ]
    assert [mode_writes(m) for m in ("use", "refresh", "bypass", "no-store")] == [
        True,
        True,
        False,
        False,
    ]


# ----------------------------------------------------------------------------- read/write


def test_roundtrip_keeps_every_field(cache: Any) -> None:
    completion = make_completion(provider_specific={"x": 1})
    key = cache.key(make_request(), CHAIN)
    assert cache.get(key) is None
    cache.set(key, completion)
    got = cache.get(key)
    assert isinstance(got, CachedAnswer) and got.fresh and got.age == 0
    assert got.completion == completion
    assert got.completion.choices[0].message.reasoning_content == "hm"
    assert got.completion.usage.prompt_cache_hit_tokens == 1
    assert got.completion.model_extra == {"provider_specific": {"x": 1}}
    s = cache.stats()
    assert (s.entries, s.hits, s.misses, s.stale) == (1, 1, 1, 0)
    assert s.directory == cache.directory and s.size_bytes > 0


def test_queued_writes_are_read_back_then_written_in_one_batch(
    cache: Any, cache_dir: Path, clock: FakeClock
) -> None:
    """``set_later`` (the client's path): readable at once, on disk after a flush, and the
    caller changing its object afterwards changes nothing stored."""
    completion = make_completion("queued")
    keys = [cache.key(make_request(content=f"q{i}"), CHAIN) for i in range(3)]
    for key in keys:
        cache.set_later(key, completion)
    completion.choices[0].message.content = "changed by the caller"
    assert [cache.get(k).completion.choices[0].message.content for k in keys] == ["queued"] * 3
    assert cache.get(keys[0]).completion is not cache.get(keys[0]).completion
    other = ResponseCache(
        Cache(directory=cache_dir), clock=clock
    )  # another process's view of the disk
    assert other.get(keys[0]) is None
    assert cache.stats().entries == 3  # stats flush the queue
    assert other.get(keys[0]).completion.choices[0].message.content == "queued"
    other.close()


def test_queue_is_flushed_at_its_batch_size_and_on_close(cache_dir: Path, clock: FakeClock) -> None:
    from deepseek_resilient._policies.cache import store as disk_cache

    cache = ResponseCache(Cache(directory=cache_dir), clock=clock)
    reader = ResponseCache(Cache(directory=cache_dir), clock=clock)
    keys = [cache.key(make_request(content=f"b{i}"), CHAIN) for i in range(disk_cache._BATCH)]
    for key in keys[:-1]:
        cache.set_later(key, make_completion())
    assert reader.get(keys[0]) is None  # one short of a batch: still queued
    cache.set_later(keys[-2], make_completion("again"))  # same key: replaced, not added
    cache.set_later(keys[-1], make_completion())  # the batch is full: written
    assert reader.get(keys[0]) is not None
    last = cache.key(make_request(content="last"), CHAIN)
    cache.set_later(last, make_completion())
    cache.close()
    assert reader.get(last) is not None
    reader.close()


def test_ttl_then_stale_window_then_gone(cache: Any, clock: FakeClock) -> None:
    key = "k" * 64
    cache.set(key, make_completion())
    clock.advance(100)
    assert cache.get(key).fresh
    clock.advance(1)
    stale = cache.get(key)
    assert stale is not None and not stale.fresh and stale.age == pytest.approx(101)
    clock.advance(49)
    assert cache.get(key) is not None  # 150 = ttl + stale_if_error: still allowed
    clock.advance(1)
    assert cache.get(key) is None
    assert cache.stats().entries == 0  # deleted, not just hidden
    assert cache.stats().stale == 2


def test_entry_from_the_future_is_dropped(cache: Any, clock: FakeClock) -> None:
    # A monotonic timestamp from before a reboot looks like the future: never trust it.
    cache.set("a", make_completion())
    clock._now -= 3600
    assert cache.get("a") is None
    assert cache.stats().entries == 0


def test_refresh_overwrites(cache: Any, clock: FakeClock) -> None:
    cache.set("a", make_completion("old"))
    clock.advance(120)
    cache.set("a", make_completion("new"))
    got = cache.get("a")
    assert got.fresh and got.completion.choices[0].message.content == "new"


def test_clear(cache: Any) -> None:
    for i in range(5):
        cache.set(str(i), make_completion())
    assert cache.stats().entries == 5
    cache.clear()
    assert cache.stats().entries == 0 and cache.get("1") is None


def test_default_clock_is_the_wall_clock(cache_dir: Path) -> None:
    rc = ResponseCache(Cache(directory=cache_dir))
    assert isinstance(rc._clock, WallClock)
    rc.set("a", make_completion())
    assert rc.get("a").fresh
    rc.close()


# ----------------------------------------------------------------------------- corruption


def _raw_put(directory: Path, key: str, value: Any) -> None:
    """Write a row the way another (buggy or hostile) program would, with stock diskcache."""
    with diskcache.Cache(str(directory)) as dc:
        dc.set(key, value)


@pytest.mark.parametrize(
    "value",
    [
        b"not json at all",
        b'{"v": 2, "stored_at": 1000, "completion": {}}',
        b'{"v": 1, "stored_at": 1000, "completion": {"id": "x", "choices": []}}',
        b'{"v": 1, "stored_at": "NaN", "completion": null}',
        "a text value",
        12345,
    ],
)
def test_corrupt_or_foreign_entries_are_misses_and_removed(cache: Any, value: Any) -> None:
    cache.set("other", make_completion())  # opens the db
    _raw_put(cache.directory, "bad", value)
    assert cache.get("bad") is None
    with diskcache.Cache(str(cache.directory)) as dc:
        assert "bad" not in dc
    assert cache.get("other") is not None


def test_corrupt_database_file_is_rebuilt(cache_dir: Path, clock: FakeClock) -> None:
    cache_dir.mkdir(mode=0o700)
    db_path(cache_dir).write_bytes(b"this is not an sqlite database" * 100)
    rc = ResponseCache(Cache(directory=cache_dir), clock)
    assert rc.get("a") is None
    rc.set("a", make_completion())
    assert rc.get("a").fresh
    rc.close()


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (builtins.open, (str(self.marker), "w"))


def _tamper(directory: Path, key: str, **columns: Any) -> None:
    con = sqlite3.connect(db_path(directory))
    sets = ", ".join(f"{c} = ?" for c in columns)
    cur = con.execute(f"UPDATE Cache SET {sets} WHERE key = ?", (*columns.values(), key))
    assert cur.rowcount == 1
    con.commit()
    con.close()


def test_pickle_row_is_refused_not_executed(cache: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker))
    # Control: stock diskcache really would run it (so this test can fail).
    control = tmp_path / "control"
    with diskcache.Cache(str(control)) as dc:
        dc.set("x", b"")
    _tamper(control, "x", mode=4, value=payload)
    with diskcache.Cache(str(control)) as dc:
        dc.get("x")
    assert marker.exists()
    marker.unlink()

    key = cache.key(make_request(), CHAIN)
    cache.set(key, make_completion())
    _tamper(cache.directory, key, mode=4, value=payload)
    assert cache.get(key) is None
    assert not marker.exists()
    with sqlite3.connect(db_path(cache.directory)) as con:
        assert con.execute("SELECT COUNT(*) FROM Cache WHERE key = ?", (key,)).fetchone() == (0,)


def test_file_backed_row_can_neither_read_nor_delete_outside_files(
    cache: Any, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text('{"v": 1}')
    cache.set("a", make_completion())
    cache.set("b", make_completion())
    _tamper(cache.directory, "a", mode=2, value=None, filename=str(victim))  # MODE_BINARY
    _tamper(cache.directory, "b", mode=3, value=None, filename="../../victim.txt")  # TEXT
    assert cache.get("a") is None and cache.get("b") is None
    cache.clear()
    assert victim.read_text() == '{"v": 1}'
    assert cache.stats().entries == 0


def _plant_pragma(directory: Path) -> None:
    with sqlite3.connect(db_path(directory)) as con:
        con.execute("INSERT INTO Settings VALUES ('sqlite_user_version', 42)")
    con.close()


def _user_version(directory: Path) -> int:
    with sqlite3.connect(db_path(directory)) as con:
        version = con.execute("PRAGMA user_version").fetchone()[0]
    con.close()
    return int(version)


def test_tampered_settings_cannot_run_pragmas(cache_dir: Path, tmp_path: Path) -> None:
    # Control: stock diskcache executes PRAGMA <key> = <value> for any sqlite_* setting.
    control = tmp_path / "control"
    diskcache.Cache(str(control)).close()
    _plant_pragma(control)
    diskcache.Cache(str(control)).close()
    assert _user_version(control) == 42

    rc = ResponseCache(Cache(directory=cache_dir))
    rc.set("a", make_completion())
    rc.close()
    _plant_pragma(cache_dir)
    rc = ResponseCache(Cache(directory=cache_dir))
    assert rc.get("a") is not None
    rc.close()
    assert _user_version(cache_dir) == 0
    with sqlite3.connect(db_path(cache_dir)) as con:
        assert con.execute(
            "SELECT COUNT(*) FROM Settings WHERE key = 'sqlite_user_version'"
        ).fetchone() == (0,)
    con.close()


def test_disk_refuses_pickled_keys_and_non_bytes(tmp_path: Path) -> None:
    disk = _JsonOnlyDisk(str(tmp_path))
    with pytest.raises(_TamperedEntry):
        disk.get(sqlite3.Binary(pickle.dumps(("tuple", "key"))), False)
    with pytest.raises(TypeError):
        disk.put(("tuple", "key"))
    with pytest.raises(TypeError):
        disk.store({"a": 1}, False)
    assert disk.put("k") == ("k", True)


# ----------------------------------------------------------------------------- directory


def test_directory_created_0700(cache: Any) -> None:
    cache.set("a", make_completion())
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700


def test_wide_directory_is_tightened(cache_dir: Path, clock: FakeClock) -> None:
    cache_dir.mkdir()
    cache_dir.chmod(0o777)
    rc = ResponseCache(Cache(directory=cache_dir), clock)
    rc.set("a", make_completion())
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert rc.get("a") is not None
    rc.close()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root to chown")
def test_directory_owned_by_someone_else_disables_the_cache(
    cache_dir: Path, clock: FakeClock
) -> None:
    cache_dir.mkdir()
    os.chown(cache_dir, 12345, 12345)
    rc = ResponseCache(Cache(directory=cache_dir), clock)
    rc.set("a", make_completion())  # no error
    assert rc.get("a") is None
    assert not db_path(cache_dir).exists()


def test_directory_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock
) -> None:
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "from-env"))
    rc = ResponseCache(Cache(), clock)
    assert rc.directory == tmp_path / "from-env"
    rc.set("a", make_completion())
    assert db_path(tmp_path / "from-env").exists()
    rc.close()
    assert ResponseCache(Cache(directory=tmp_path / "x"), clock).directory == tmp_path / "x"


def test_opening_is_lazy(cache_dir: Path, clock: FakeClock) -> None:
    rc = ResponseCache(Cache(directory=cache_dir), clock)
    assert not cache_dir.exists()
    rc.get("a")
    assert db_path(cache_dir).exists()
    rc.close()


def test_unusable_directory_is_a_disabled_cache_not_an_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = ResponseCache(Cache(directory=blocker / "sub"), clock)
    rc.set("a", make_completion())
    assert rc.get("a") is None
    assert rc.stats().entries == 0


# ----------------------------------------------------------------------------- security


def test_api_key_never_reaches_the_cache_files(cache: Any) -> None:
    secret = "sk-SENTINEL-0123456789abcdef"
    marker = "PROMPT-MARKER-42"
    request = make_request(marker)
    key = cache.key(request, CHAIN)
    cache.set(key, make_completion(f"answer {marker}"))
    assert cache.get(key) is not None
    blobs = b"".join(p.read_bytes() for p in cache.directory.rglob("*") if p.is_file())
    assert marker.encode() in blobs  # the grep does see what is stored (WAL included)
    assert secret.encode() not in blobs
    assert secret not in key


# ----------------------------------------------------------------------------- size


def test_size_limit_evicts_oldest(cache_dir: Path, clock: FakeClock) -> None:
    rc = ResponseCache(Cache(directory=cache_dir, size_limit=128 * 1024), clock)
    big = "x" * 4000
    for i in range(200):
        rc.set(f"k{i}", make_completion(big))
        clock.advance(1)
    s = rc.stats()
    assert s.entries < 200
    assert s.size_bytes <= 128 * 1024 + 64 * 1024  # stats() evicts what is past the limit
    assert rc.get("k0") is None
    assert rc.get("k199") is not None
    rc.close()


# ----------------------------------------------------------------------------- processes


def _worker(directory: str, worker: int, rounds: int) -> tuple[int, int, int]:
    rc = ResponseCache(Cache(directory=directory, lock_timeout=5.0))
    hits = misses = 0
    for i in range(rounds):
        key = f"key-{(i * 7 + worker) % 50}"
        text = f"answer for {key}"
        rc.set(key, make_completion(text))
        got = rc.get(f"key-{(i * 3) % 50}")
        if got is None:
            misses += 1
        else:
            assert got.completion.choices[0].message.content.startswith("answer for key-")
            assert got.completion.id == "cmpl-1"
            hits += 1
    entries = rc.stats().entries
    rc.close()
    return hits, misses, entries


def test_four_processes_share_one_directory(cache_dir: Path) -> None:
    ResponseCache(Cache(directory=cache_dir)).stats()  # create it once
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(4) as pool:
        results = pool.starmap(_worker, [(str(cache_dir), w, 200) for w in range(4)])
    assert sum(h + m for h, m, _ in results) == 800
    assert sum(h for h, _, _ in results) > 0
    rc = ResponseCache(Cache(directory=cache_dir))
    s = rc.stats()
    assert s.entries == 50
    for i in range(50):
        got = rc.get(f"key-{i}")
        assert got is not None
        assert got.completion.choices[0].message.content == f"answer for key-{i}"
    with sqlite3.connect(db_path(cache_dir)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rc.close()


@settings(max_examples=60, deadline=None)
@given(
    stored_at=st.floats(min_value=0, max_value=1e17, allow_nan=False, allow_infinity=False),
    text=st.text(max_size=40),
)
def test_a_stored_entry_is_the_entry_model_as_json(stored_at: float, text: str) -> None:
    """The cache writes its entry's JSON without building the entry model: it must read back
    as the very ``_Entry`` it stands for (extras, usage details and tool calls included)."""
    from deepseek_resilient._policies.cache.store import ENTRY_VERSION, _Entry, _entry_json

    completion = ChatCompletion.model_validate(
        {
            "id": "c1",
            "created": 7,
            "model": "m",
            "provider_extra": {"k": [1, text]},
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{}"}}],
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                      "completion_tokens_details": {"reasoning_tokens": 1}},
        }
    )  # fmt: skip
    expected = _Entry(v=ENTRY_VERSION, stored_at=stored_at, completion=completion)
    assert _Entry.model_validate_json(_entry_json(stored_at, completion)) == expected
    with pytest.raises(ValueError):
        _entry_json(float("inf"), completion)
