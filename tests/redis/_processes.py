"""Running ``_worker.py`` processes for the multi-process Redis tests, and counting what the
FaultServer received, second by second, by its own timestamps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepseek_resilient.testing import FaultServer

WORKER = Path(__file__).with_name("_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def run_workers(
    cfgs: list[dict[str, Any]],
    timeout: float = 90.0,
    during: Callable[[float], None] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """Start every worker; once all have warmed up and said ``ready`` (the barrier), start
    them at once; run ``during(go)`` meanwhile (``go``: ``time.monotonic()`` at the start);
    collect their results. Returns (results, go)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for cfg in cfgs
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()  # blocks until this worker is warm (bounded below)
            assert line.strip() == "ready", p.stderr.read() if p.stderr else line
        go = time.monotonic()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        if during is not None:
            during(go)
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results, go
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def cfg(server: FaultServer, redis_url: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {"server": server.base_url, "redis": redis_url, "ns": "mp", "mode": mode, **extra}


def models(server: FaultServer, model: str) -> int:
    return sum(1 for r in list(server.requests) if (r.body or {}).get("model") == model)


def per_second(server: FaultServer, model: str) -> Counter[int]:
    """Requests for ``model`` the server received in each second, counted from the first
    one (on a busy machine the workers may start a while after they were told to)."""
    times = [r.received for r in list(server.requests) if (r.body or {}).get("model") == model]
    first = min(times, default=0.0)
    return Counter(int(t - first) for t in times)


def wait_until(moment: float) -> None:
    """Orchestration: let the workers run until ``moment`` (``time.monotonic()``)."""
    left = moment - time.monotonic()
    if left > 0:
        time.sleep(left)
