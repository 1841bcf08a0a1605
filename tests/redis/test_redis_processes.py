"""RedisState across real processes: each worker is a separate Python process on the same
redis-server and FaultServer (see ``_worker.py``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _processes import cfg, models, per_second, run_workers

from deepseek_resilient.testing import FaultServer, Ok, Status, Step


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


def test_four_processes_share_one_rate_limit(server: FaultServer, redis_url: str) -> None:
    """The admissions are the requests the server received (its own timestamps), from the
    moment the workers began (every worker warmed up before the barrier, so the first
    answer in a fresh process is not late)."""
    rps, duration = 20.0, 1.5
    results, _ = run_workers(
        [
            cfg(server, redis_url, "limit", rps=rps, duration=duration, callers=8, tag=f"w{i}")
            for i in range(4)
        ]
    )
    offset = time.time() - time.monotonic()  # the workers' wall clock, on the server's clock
    began = min(r["began"] for r in results) - offset
    received = [r.received for r in list(server.requests) if r.body["model"] == "ok"]
    span = max(received) - began  # covers every admission
    allowed = rps + rps * span  # one full bucket, then the rate
    # Four unshared limiters would admit about four times as many.
    assert len(received) <= allowed + 2, (len(received), span)
    assert len(received) >= rps, (len(received), span)  # at least the first shared bucket
    assert all(r["times"] for r in results)  # every process got its share
    assert sum(r["refused"] for r in results) == 0
    seconds = per_second(server, "ok")
    assert all(n <= 1.1 * rps + 2 for s, n in seconds.items() if s >= 1), seconds


def test_breaker_trip_in_one_process_stops_the_others(server: FaultServer, redis_url: str) -> None:
    [tripper], _ = run_workers([cfg(server, redis_url, "trip")])
    assert tripper["health"]["primary"] == "open"
    sent = models(server, "down")
    others, _ = run_workers(
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
    [first], _ = run_workers([cfg(server, redis_url, "calls", cache=True, text="cache me")])
    [second], _ = run_workers([cfg(server, redis_url, "calls", cache=True, text="cache me")])
    assert first["results"][0]["cache"] == "miss"
    assert second["results"][0]["cache"] == "hit"
    assert second["results"][0]["content"] == first["results"][0]["content"]
    assert models(server, "ok") == 1


def test_forty_identical_requests_from_four_processes_make_one_call(
    server: FaultServer, redis_url: str
) -> None:
    results, _ = run_workers(
        [cfg(server, redis_url, "calls", model="slow", text="merge me", n=10) for _ in range(4)]
    )
    answers = [r for result in results for r in result["results"]]
    assert len(answers) == 40
    assert {a["content"] for a in answers} == {"merged answer"}
    assert models(server, "slow") == 1
    assert sum(not a["coalesced"] for a in answers) == 1  # one leader, 39 merged
