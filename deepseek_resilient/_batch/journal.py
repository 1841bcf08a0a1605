"""The results file as a journal: each result is appended in one ``write`` and made durable
with ``fsync`` (in a worker thread, at most ``sync_interval`` apart, and at the end). On
resume the file is read back: the ``custom_id`` of every complete line is done, and a torn
last line (a crash in the middle of a write) is cut off, so every ``custom_id`` ends up in
the file exactly once."""

from __future__ import annotations

import json
import os
from typing import Any

import anyio

from .._core.errors import ConfigurationError

__all__ = ["Journal", "recover"]


def recover(path: str | os.PathLike[str]) -> set[str]:
    """The custom_ids already in the results file; a torn or unreadable last line is cut off."""
    done: set[str] = set()
    good_end = 0
    with open(path, "rb") as file:
        offset = 0
        for raw in file:
            offset += len(raw)
            custom_id = _custom_id(raw) if raw.endswith(b"\n") else None
            if custom_id is None:
                if file.read(1):  # not the last line: the file is damaged, not torn
                    raise ConfigurationError(
                        f"{os.fspath(path)}: a line ending at byte {offset} is not a result; "
                        "fix or remove it before resuming"
                    )
                break
            done.add(custom_id)
            good_end = offset
    if good_end != os.path.getsize(path):
        with open(path, "r+b") as file:
            file.truncate(good_end)
            os.fsync(file.fileno())
    return done


def _custom_id(raw: bytes) -> str | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    value = data.get("custom_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


class Journal:
    """Append-only results file. One event loop writes it; each line is one ``os.write``."""

    def __init__(
        self, path: str | os.PathLike[str], *, resume: bool, sync_interval: float = 0.2
    ) -> None:
        self.path = os.fspath(path)
        exists = os.path.exists(self.path)
        if exists and not resume:
            raise ConfigurationError(
                f"{self.path} exists: resume it (--resume / resume=True) or remove it"
            )
        self.done: set[str] = recover(self.path) if exists else set()
        self._fd = -1
        self._sync_interval = sync_interval
        self._dirty = False

    def open(self) -> None:
        """Create (or open for appending) the file: after the input was checked, so a bad
        input file leaves no results file behind."""
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigurationError(f"can't write {self.path}: {exc.strerror}") from None

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._dirty = True

    async def keep_synced(self) -> None:
        """Run beside the writers: ``fsync`` what was written, every ``sync_interval``
        seconds, in a worker thread (a slow disk never stalls the event loop)."""
        while True:
            await anyio.sleep(self._sync_interval)
            if self._dirty:
                self._dirty = False
                await anyio.to_thread.run_sync(os.fsync, self._fd)

    def sync(self) -> None:
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1
