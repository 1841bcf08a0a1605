"""Run the fault-injecting server on its own: ``python -m deepseek_resilient.testing``.

Prints its base URL on the first line, then serves healthy answers until it gets SIGTERM or
Ctrl-C (SIGINT), or until ``--max-seconds`` pass. It never reads standard input, so it runs
the same in a terminal, in the background (``&``, ``nohup``) or with stdin closed.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from types import FrameType

from ._server import FaultServer
from ._steps import Ok

_DESCRIPTION = (
    "Serve healthy OpenAI-shaped answers on 127.0.0.1 (an ephemeral port; the base URL is "
    "printed on the first line). Runs until SIGTERM or Ctrl-C, or until --max-seconds have "
    "passed. Standard input is not read: it runs in the background as well."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepseek_resilient.testing",
                                     description=_DESCRIPTION)  # fmt: skip
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until SIGTERM or Ctrl-C)",
    )
    parser.add_argument("--lifetime", type=float, dest="max_seconds", help=argparse.SUPPRESS)
    parser.add_argument("--content", default="Hello from the test server.",
                        help="the answer's text (default: %(default)r)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.max_seconds is not None and not args.max_seconds > 0:
        parser.error("--max-seconds must be positive")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    lifetime = math.inf if args.max_seconds is None else args.max_seconds
    try:
        with FaultServer(default=Ok(args.content), lifetime=lifetime) as server:
            print(server.base_url, flush=True)
            stop.wait(args.max_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
