"""Run the fault-injecting server on its own: ``python -m deepseek_resilient.testing``.

Prints its base URL on the first line, then serves healthy answers until ``--lifetime``
seconds pass or standard input closes (so it never outlives the process that started it).
"""

from __future__ import annotations

import argparse
import sys
import threading

from ._server import FaultServer
from ._steps import Ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deepseek_resilient.testing")
    parser.add_argument("--lifetime", type=float, default=600.0, help="seconds before it stops")
    parser.add_argument("--content", default="Hello from the test server.")
    args = parser.parse_args(argv)
    with FaultServer(default=Ok(args.content), lifetime=args.lifetime) as server:
        print(server.base_url, flush=True)
        done = threading.Event()

        def wait_for_eof() -> None:
            sys.stdin.read()
            done.set()

        threading.Thread(target=wait_for_eof, daemon=True).start()
        done.wait(args.lifetime)


if __name__ == "__main__":
    main()
