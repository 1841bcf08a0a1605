"""Peak memory and time of one request against a hostile server (issue 12).

    python -m benchmarks.bench_hostile                    # this checkout
    python -m benchmarks.bench_hostile --client-path DIR  # another checkout's client, same server

Each case runs the client in a fresh process (so ``ru_maxrss`` is that case's own peak) against
a ``FaultServer`` in a second process: a gzip bomb (about 1 MiB on the wire, 1 GiB decoded) and
a 50 MB body. Printed: outcome, wall time, and the client's peak RSS over its RSS before the
request. Not part of ``python -m benchmarks`` (it is a security check, not a speed goal).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

_SERVER = """
import sys, time
from deepseek_resilient.testing import FaultServer, GzipBomb, HugeBody
from deepseek_resilient.testing._hostile import gzip_bomb
step = GzipBomb() if sys.argv[1] == "bomb" else HugeBody()
gzip_bomb(1024 * 1024 * 1024)
with FaultServer(default=step, lifetime=600) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""

_CLIENT = """
import json, resource, sys, time
import os
import deepseek_resilient
assert deepseek_resilient.__file__.startswith(os.getcwd()), deepseek_resilient.__file__
import anyio
from deepseek_resilient import AsyncClient, OpenAICompatible, Retry
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
async def main():
    p = OpenAICompatible(name="p", base_url=sys.argv[1], model="m", api_key="sk-bench-key")
    async with AsyncClient([p], retry=Retry(attempts=1), breaker=None, timeout=600) as c:
        before = rss()
        started = time.perf_counter()
        try:
            await c.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
            outcome = "accepted"
        except Exception as exc:
            errors = getattr(exc, "errors", [exc])
            outcome = type(errors[0]).__name__ if errors else type(exc).__name__
        took = time.perf_counter() - started
    print(json.dumps({"outcome": outcome, "seconds": took, "rss_before_mib": before,
                      "peak_rss_mib": rss()}))
anyio.run(main)
"""


def run_case(case: str, client_path: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, case], env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        env_client = {**os.environ, "PYTHONPATH": str(client_path)}
        out = subprocess.run(
            [sys.executable, "-c", _CLIENT, base_url], env=env_client, capture_output=True,
            text=True, timeout=600, check=True, cwd=client_path,
        )  # fmt: skip
        result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client-path", type=Path, default=HERE)
    args = parser.parse_args()
    for case in ("bomb", "50MB"):
        r = run_case(case, args.client_path)
        grew = float(r["peak_rss_mib"]) - float(r["rss_before_mib"])  # type: ignore[arg-type]
        print(
            f"{case:5s} {r['outcome']:22s} {float(r['seconds']):7.2f} s  "  # type: ignore[arg-type]
            f"peak RSS {float(r['peak_rss_mib']):7.0f} MiB (+{grew:.0f} MiB during the request)"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
