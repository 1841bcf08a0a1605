"""Three mock backends for the load-balancing benchmark: ``python -m benchmarks._balance_backends``.

Each is the library's ``FaultServer`` on 127.0.0.1 (its own port) behind a queue model: a
backend has ``WORKERS`` workers, a request waits for the first free one (first come, first
served), then takes its service time before the first token. The answer then streams at
once. A request the client abandons keeps its worker busy, as a real server's would.

* ``fast``: 40 ms (±20 %);
* ``slow``: 2x slower on average, 80 ms (±20 %);
* ``tail``: 40 ms (±20 %), but 5 % of requests are 20x slower (800 ms): a heavy tail.

Prints ``{"fast": url, "slow": url, "tail": url}`` on its first line. On stdin: ``counts``
prints the requests each backend received since the last ``reset`` (JSON); ``delays`` the
time each of those requests waited for its first token, as the backend scheduled it (queue
and service: what the routing alone cost, without the client's own overhead); ``reset``
zeroes them and frees every worker. Stops when stdin closes or after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import threading
import time
from typing import Any

from deepseek_resilient.testing import FaultServer, Ok, Step

WORKERS = 4
BASE = 0.040
CONTENT = "one two three four five six seven eight"


class Backend:
    """A queue model: ``delay()`` is how long the request now arriving waits for its first
    token (queueing for a worker, then its service time)."""

    def __init__(self, name: str, mean: float, tail_share: float, tail_factor: float) -> None:
        self.name = name
        self.mean = mean
        self.tail_share = tail_share
        self.tail_factor = tail_factor
        self.rng = random.Random(name)
        self.requests = 0
        self.free_at = [0.0] * WORKERS
        self.delays: list[float] = []

    def reset(self) -> None:
        self.requests = 0
        self.free_at = [0.0] * WORKERS
        self.delays = []

    def service(self) -> float:
        t = self.mean * self.rng.uniform(0.8, 1.2)
        if self.rng.random() < self.tail_share:
            t *= self.tail_factor
        return t

    def delay(self) -> float:
        now = time.monotonic()
        worker = min(range(WORKERS), key=self.free_at.__getitem__)
        start = max(now, self.free_at[worker])
        self.free_at[worker] = start + self.service()
        self.requests += 1
        self.delays.append(self.free_at[worker] - now)
        return self.delays[-1]


BACKENDS = {
    "fast": (BASE, 0.0, 1.0),
    "slow": (2 * BASE, 0.0, 1.0),
    "tail": (BASE, 0.05, 20.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._balance_backends")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args()
    lock = threading.Lock()
    backends = {name: Backend(name, *shape) for name, shape in BACKENDS.items()}
    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for name, backend in backends.items():
            server = FaultServer(lifetime=args.lifetime)
            server.rule = _rule(server, backend, lock)
            stack.enter_context(server)
            urls[name] = server.base_url
        print(json.dumps(urls), flush=True)
        done = threading.Event()

        def control() -> None:
            for line in sys.stdin:
                command = line.strip()
                with lock:
                    if command == "reset":
                        for b in backends.values():
                            b.reset()
                    if command == "delays":  # every upstream request's wait, since reset
                        out: Any = [d for b in backends.values() for d in b.delays]
                    else:
                        out = {n: b.requests for n, b in backends.items()}
                print(json.dumps(out), flush=True)
            done.set()

        threading.Thread(target=control, daemon=True).start()
        done.wait(args.lifetime)


def _rule(server: FaultServer, backend: Backend, lock: threading.Lock) -> Any:
    def rule(index: int, body: dict[str, Any] | None) -> Step:
        if len(server.requests) > 10_000:  # called under the server's lock: memory stays flat
            server.requests.clear()
        with lock:
            delay = backend.delay()
        return Ok(CONTENT, delay=delay)

    return rule


if __name__ == "__main__":
    main()
