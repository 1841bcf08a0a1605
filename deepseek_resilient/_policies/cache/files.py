"""The cache's files: its directory (created 0700, refused when another user owns it), its
write check and the scrub of foreign pragmas. The diskcache ``Disk`` is :mod:`.cache_disk`;
diskcache and sqlite3 load when a cache is first opened, not at import."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from ..._core.config import Cache

__all__ = [
    "ENV_DIR",
    "PRAGMAS",
    "drop_foreign_pragmas",
    "resolve_directory",
    "secure_directory",
    "writable",
]

logger = logging.getLogger("deepseek_resilient.cache")

ENV_DIR = "DEEPSEEK_RESILIENT_CACHE_DIR"
PRAGMAS: dict[str, Any] = {
    "sqlite_auto_vacuum": 1,  # FULL: evicted rows give their pages back
    "sqlite_cache_size": 2**13,
    "sqlite_journal_mode": "wal",  # readers never wait for writers
    "sqlite_mmap_size": 2**26,
    "sqlite_synchronous": 1,  # NORMAL: no fsync per write; a crash loses a few entries at most
}
"""Every pragma diskcache knows, passed explicitly so a tampered Settings row can't set one."""


def resolve_directory(config: Cache) -> Path:
    """``config.directory``, else ``$DEEPSEEK_RESILIENT_CACHE_DIR``, else the user cache dir."""
    if config.directory is not None:
        return Path(config.directory).expanduser()
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("deepseek-resilient"))


def secure_directory(path: Path) -> bool:
    """Create ``path`` 0700, or tighten it to 0700 when it is ours and looser. False (with a
    warning) when another user owns it: its database could be tampered with."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "posix":  # pragma: no cover - POSIX permissions only
        return True
    st = path.stat()
    if st.st_uid != os.geteuid():
        logger.warning("cache disabled: %s is owned by another user", path)
        return False
    if stat.S_IMODE(st.st_mode) & 0o077:
        path.chmod(0o700)
        logger.info("cache directory %s tightened to 0700", path)
    return True


def writable(path: Path) -> bool:
    """The directory, and its database files when they exist, can be written by us: a
    read-only cache is "not writable", never mistaken for a corrupt one."""
    files = [path / f"cache.db{suffix}" for suffix in ("", "-wal", "-shm")]
    return os.access(path, os.W_OK | os.X_OK) and all(
        os.access(f, os.R_OK | os.W_OK) for f in files if f.exists()
    )


def drop_foreign_pragmas(directory: Path, lock_timeout: float) -> None:
    """diskcache runs ``PRAGMA <key> = <value>`` for every ``sqlite_*`` row of its Settings
    table on each connection. Ours are passed explicitly (and so rewritten); delete any
    other such row before diskcache sees it."""
    path = directory / "cache.db"
    if not path.exists():
        return
    import sqlite3

    con = sqlite3.connect(path, timeout=lock_timeout, isolation_level=None)
    try:
        try:
            rows = con.execute("SELECT key FROM Settings").fetchall()
        except sqlite3.OperationalError:  # no table yet, or busy: nothing to scrub now
            return
        foreign = [
            key
            for (key,) in rows
            if isinstance(key, str) and key.startswith("sqlite_") and key not in PRAGMAS
        ]
        for key in foreign:  # only after tampering: a failure here disables the cache
            con.execute("DELETE FROM Settings WHERE key = ?", (key,))
        if foreign:
            logger.warning("cache database in %s had foreign settings", directory)
    finally:
        con.close()
