"""The benchmark server: ``python -m benchmarks._server [--lifetime 1800]``.

The library's fault-injecting ``FaultServer`` (127.0.0.1, ephemeral port) with one rule: the
request's ``model`` picks the answer, so each benchmark provider gets its own behaviour from
one server process:

* ``ok`` (and anything else): a completion at once;
* ``slow``: a completion after 0.25 s (so 100 concurrent requests overlap);
* ``down``: HTTP 503;
* ``stall``: 200, then a blank line every 0.5 s and never an answer (as DeepSeek does when busy).

Prints the base URL on the first line. On stdin, the line ``counts`` prints the requests
received per model as JSON. Stops when stdin closes or after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from deepseek_resilient.testing import FaultServer, Ok, Stall, Status, Step

STEPS: dict[str, Step] = {
    "ok": Ok("Hello from the benchmark server."),
    "slow": Ok("Hello, slowly.", delay=0.25),
    "down": Status(503, message="benchmark primary is down"),
    "stall": Stall(seconds=60.0, interval=0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args()
    counts: dict[str, int] = {}
    server = FaultServer(lifetime=args.lifetime)

    def rule(index: int, body: dict[str, Any] | None) -> Step:
        model = str((body or {}).get("model", "ok"))
        counts[model] = counts.get(model, 0) + 1
        if len(server.requests) > 10_000:  # called under the server's lock: keep memory flat
            server.requests.clear()
        return STEPS.get(model, STEPS["ok"])

    server.rule = rule
    with server:
        print(server.base_url, flush=True)
        done = threading.Event()

        def control() -> None:
            for line in sys.stdin:
                if line.strip() == "counts":
                    print(json.dumps(counts), flush=True)
            done.set()

        threading.Thread(target=control, daemon=True).start()
        done.wait(args.lifetime)


if __name__ == "__main__":
    main()
