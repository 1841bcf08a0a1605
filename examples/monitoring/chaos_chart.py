"""Needs matplotlib: pip install 'deepseek-resilient[bench]' (or pip install matplotlib).

Plot ``client.stats()`` over a chaos run against the fault-injecting test server.

    python examples/monitoring/chaos_chart.py [--out docs/observability-chaos.png]

A primary on ``FaultServer`` goes through three phases (healthy, an outage of 503s and resets,
recovered) while a local fallback (``FakeProvider``) stands by; every batch of requests the
script reads ``client.stats()`` and finally draws the primary's latency percentiles, its error
rate, the share answered by the fallback and the breaker state. Needs matplotlib
(``pip install 'deepseek-resilient[bench]'``). Takes about 15 s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio

from deepseek_resilient import AsyncClient, CircuitBreaker, OpenAICompatible, Retry
from deepseek_resilient.testing import Chaos, FakeProvider, FaultServer, Ok, Reset, Status

PHASES = [
    # (name, batches, fault mix)
    ("healthy", 8, [(0.02, Status(503))]),
    ("outage", 8, [(0.6, Status(503)), (0.2, Reset())]),
    ("recovered", 14, [(0.02, Status(503))]),
]
BATCH = 25
PAUSE = 0.3
LATENCIES = [
    (0.5, Ok("fine", delay=0.02)),
    (0.35, Ok("fine", delay=0.05)),
    (0.15, Ok("ok", delay=0.12)),
]


def latency_rule(seed: int) -> Chaos:
    """The healthy server's answers: 20, 50 or 120 ms."""
    return Chaos(seed, LATENCIES[:-1], otherwise=LATENCIES[-1][1])


async def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with FaultServer(lifetime=120) as server:
        primary = OpenAICompatible(
            name="deepseek", base_url=server.base_url, model="m", api_key="sk-demo"
        )
        async with AsyncClient(
            [primary, FakeProvider("local")],
            retry=Retry(attempts=2, base=0.01, cap=0.05),
            breaker=CircuitBreaker(window=20, min_calls=10, failure_rate=0.5, open_for=0.5),
            timeout=10,
        ) as client:
            n = 0
            for phase, (name, batches, mix) in enumerate(PHASES):
                server.rule = Chaos(phase, mix, otherwise=latency_rule(phase))
                for _ in range(batches):
                    async with anyio.create_task_group() as tg:
                        for _ in range(BATCH):
                            n += 1
                            messages = [{"role": "user", "content": f"question {n}"}]
                            tg.start_soon(
                                lambda m=messages: client.chat.completions.create(messages=m)
                            )
                    await anyio.sleep(PAUSE)  # time passes: the breaker's open period ends
                    stats = client.stats()
                    p = stats.providers["deepseek"]
                    rows.append(
                        {
                            "requests": stats.requests,
                            "phase": name,
                            "p50": p.latency_p50,
                            "p95": p.latency_p95,
                            "p99": p.latency_p99,
                            "failed": sum(p.failures.values()),
                            "tried": p.successes + sum(p.failures.values()),
                            "fallback": stats.providers["local"].answered,
                            "breaker": {"closed": 0, "half-open": 1, "open": 2}[p.breaker],
                        }
                    )
            print(client.stats().table())
    return rows


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["requests"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, dpi=100)
    for key, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        top.plot(x, [(r[key] or 0) * 1000 for r in rows], style, label=f"deepseek {key}")
    top.set_ylabel("attempt latency (ms)")
    top.legend(loc="upper right", fontsize=8)
    top.set_title("client.stats() over a chaos run (5-minute sliding window)")
    previous: dict[str, Any] = {"failed": 0, "tried": 0, "fallback": 0}
    errors, fallback = [], []
    for r in rows:  # per batch, from the differences of stats() counters
        tried = r["tried"] - previous["tried"]
        errors.append(100 * (r["failed"] - previous["failed"]) / tried if tried else 0.0)
        fallback.append(100 * (r["fallback"] - previous["fallback"]) / BATCH)
        previous = r
    bottom.plot(x, errors, label="deepseek attempts failing, per batch %")
    bottom.plot(x, fallback, label="answered by the fallback, per batch %")
    bottom.step(
        x,
        [r["breaker"] * 50 for r in rows],
        where="post",
        label="breaker (0 closed, 50 half-open, 100 open)",
    )
    bottom.set_ylabel("%")
    bottom.set_xlabel("requests")
    bottom.legend(loc="center right", fontsize=8)
    start = 0
    for name, batches, _ in PHASES:
        end = start + batches
        if start < len(x):
            for axis in (top, bottom):
                axis.axvspan(
                    x[start] - BATCH,
                    x[min(end, len(x)) - 1],
                    alpha=0.06 if name != "outage" else 0.18,
                    color="red" if name == "outage" else "grey",
                )
            top.text(x[start] - BATCH + 5, top.get_ylim()[1] * 0.9, name, fontsize=8)
        start = end
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/observability-chaos.png"))
    args = parser.parse_args()
    try:  # before the 15 s run, not after it
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit("this example needs matplotlib: pip install 'deepseek-resilient[bench]'")
    rows = anyio.run(run)
    plot(rows, args.out)


if __name__ == "__main__":
    main()
