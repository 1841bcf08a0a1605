"""Needs nothing beyond the base install (pip install deepseek-resilient).

The testing kit without pytest: a fault-injecting server, a ready client in testing mode,
and assertions on what the server recorded. Runs offline in about a second:

    python examples/testing_without_pytest.py
"""

from __future__ import annotations

import time

from deepseek_resilient.testing import (
    FaultServer,
    InstantClock,
    Ok,
    Reset,
    Stall,
    Status,
    server_provider,
    testing_client,
)

USER = [{"role": "user", "content": "Summarise: the cat sat on the mat."}]


def main() -> None:
    clock = InstantClock()
    with FaultServer() as server, FaultServer(default=Ok("from the backup")) as backup:
        # 1. "503 twice then OK", "429 with Retry-After 2": retried, and no real sleeping.
        server.script(Status(503), Status(429, retry_after=2), Ok("a cat sat"))
        started = time.monotonic()
        with testing_client(server, clock=clock) as client:
            resp = client.chat.completions.create(messages=USER)
        assert resp.choices[0].message.content == "a cat sat"
        assert resp.route is not None
        print(resp.route.summary())
        print(f"server calls: {server.calls}, skipped sleeps: {clock.sleeps}, "
              f"real time: {time.monotonic() - started:.2f} s")  # fmt: skip
        assert server.calls == 3 and clock.sleeps[-1] == 2.0

        # 2. A keep-alive stall on the primary: abandoned at its attempt timeout, then a reset,
        #    and the backup answers.
        server.reset()
        server.script(Stall(seconds=10, interval=0.05), Reset(), Reset())
        primary = server_provider(server, "primary", attempt_timeout=0.3)
        with testing_client(primary, server_provider(backup, "backup")) as client:
            resp = client.chat.completions.create(messages=USER)
        assert resp.route is not None and resp.route.provider == "backup"
        print(resp.route.summary())

        # 3. What the server received (Authorization is redacted).
        first = server.requests[0]
        print(f"recorded: {first.path} stream={first.stream} text={first.text!r} "
              f"auth={first.headers['authorization']}")  # fmt: skip
    print("ok")


if __name__ == "__main__":
    main()
