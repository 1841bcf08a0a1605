"""RedisState across real processes: each worker is a separate Python process on the same
redis-server and FaultServer (see ``_worker.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deepseek_resilient.testing import FaultServer, Ok, Status, Step

WORKER = Path(__file__).with_name("_worker.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(llm_server: FaultServer) -> FaultServer:
    steps: dict[str, Step] = {
        "down": Status(503, message="primary down"),
        "slow": Ok("merged answer", delay=0.5),
    }

    def rule(index: int, body: dict[str, Any] | None) -> Step:
        return steps.get(str((body or {}).get("model")), Ok("hello"))

    llm_server.rule = rule
    return llm_server


def models(server: FaultServer, model: str) -> int:
    return sum(1 for r in list(server.requests) if (r.body or {}).get("model") == model)


def run_workers(cfgs: list[dict[str, Any]], timeout: float = 60.0) -> list[dict[str, Any]]:
    """Start every worker, wait until all are ready, start them at once, collect results."""
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
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read() if p.stderr else line
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def cfg(server: FaultServer, redis_url: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {"server": server.base_url, "redis": redis_url, "ns": "mp", "mode": mode, **extra}


def test_four_processes_share_one_rate_limit(server: FaultServer, redis_url: str) -> None:
    rps, duration = 20.0, 1.5
    results = run_workers(
        [
            cfg(server, redis_url, "limit", rps=rps, duration=duration, callers=8, tag=f"w{i}")
            for i in range(4)
        ]
    )
    times = sorted(t for r in results for t in r["times"])
    span = times[-1] - min(r["began"] for r in results)  # covers every admission
    allowed = rps + rps * span  # one full bucket, then the rate
    # Four unshared limiters would admit about four times as many.
    assert len(times) <= allowed + 2, (len(times), span)
    # At least the first shared bucket is used (a busy machine may leave the callers too slow
    # to use the rate after it: a lower bound on the rate would race the machine's load).
    assert len(times) >= rps, (len(times), span)
    assert all(r["times"] for r in results)  # every process got its share


def test_breaker_trip_in_one_process_stops_the_others(server: FaultServer, redis_url: str) -> None:
    [tripper] = run_workers([cfg(server, redis_url, "trip")])
    assert tripper["health"]["primary"] == "open"
    sent = models(server, "down")
    others = run_workers(
        [
            cfg(server, redis_url, "calls", failover=True, text=f"w{i}", identical=False, n=5)
            for i in range(3)
        ]
    )
    assert models(server, "down") == sent  # zero calls to the open provider
    for result in others:
        assert {r["provider"] for r in result["results"]} == {"backup"}
        assert result["health"]["primary"] == "open"


def test_a_second_process_gets_the_first_ones_cached_answer(
    server: FaultServer, redis_url: str
) -> None:
    [first] = run_workers([cfg(server, redis_url, "calls", cache=True, text="cache me")])
    [second] = run_workers([cfg(server, redis_url, "calls", cache=True, text="cache me")])
    assert first["results"][0]["cache"] == "miss"
    assert second["results"][0]["cache"] == "hit"
    assert second["results"][0]["content"] == first["results"][0]["content"]
    assert server.calls == 1


def test_forty_identical_requests_from_four_processes_make_one_call(
    server: FaultServer, redis_url: str
) -> None:
    results = run_workers(
        [cfg(server, redis_url, "calls", model="slow", text="merge me", n=10) for _ in range(4)]
    )
    answers = [r for result in results for r in result["results"]]
    assert len(answers) == 40
    assert {a["content"] for a in answers} == {"merged answer"}
    assert server.calls == 1
    assert sum(not a["coalesced"] for a in answers) == 1  # one leader, 39 merged
