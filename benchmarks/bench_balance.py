"""Load balancing and hedging: ``python -m benchmarks.bench_balance [--n 1000]``.

Three mock backends serve the same model (``benchmarks._balance_backends``, in their own
process): ``fast`` (40 ms to the first token), ``slow`` (2x slower on average) and ``tail``
(fast, but 5 % of requests 20x slower), each with 4 workers and a queue. Streamed requests
go through one ``Tier`` of the three with each strategy, then with
``Hedge(after="p95", max_extra=0.05)``; in the same run LiteLLM's ``Router`` with
``simple-shuffle``, ``least-busy`` and ``latency-based-routing`` (when LiteLLM is importable
here, or from the interpreter given by ``--litellm-python`` / ``$LITELLM_PYTHON``).

For each: p50 and p99 time to first token (client side), the p99 wait the backends scheduled
(queue and service: the routing's cost without the client's own overhead), the load split
(requests each backend received) and the extra upstream requests. Prints a table and the
targets, and saves the load-split chart (``docs/load-balancing-split.png``, with matplotlib).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from benchmarks._common import ROOT, child_env, run_concurrently
from deepseek_resilient import AsyncClient, Hedge, OpenAICompatible, Retry, Tier

BACKENDS = ("fast", "slow", "tail")
MESSAGES = [{"role": "user", "content": "Hi"}]
CHART = ROOT / "docs" / "load-balancing-split.png"


@dataclass
class Result:
    name: str
    ttft: list[float]
    split: dict[str, int]
    errors: int = 0
    #: Each upstream request's wait for its first token, as the backend scheduled it.
    upstream: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def pct(self, q: float, upstream: bool = False) -> float:
        values = sorted(self.upstream if upstream else self.ttft)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]

    @property
    def shares(self) -> dict[str, float]:
        total = sum(self.split.values()) or 1
        return {b: 100.0 * self.split.get(b, 0) / total for b in BACKENDS}

    def merge(self, other: Result) -> Result:
        """This result pooled with another round of the same configuration."""
        split = {b: self.split.get(b, 0) + other.split.get(b, 0) for b in BACKENDS}
        errors, upstream = self.errors + other.errors, self.upstream + other.upstream
        extra = {**self.extra, **other.extra}
        return Result(self.name, self.ttft + other.ttft, split, errors, upstream, extra)

    def extra_requests(self) -> float:
        """Upstream requests beyond one per measured request, in percent."""
        n = len(self.ttft) + self.errors
        return 100.0 * (sum(self.split.values()) - n) / max(1, n)


class Backends:
    """The three mock backends' process: URLs, and the counters on its stdin/stdout."""

    def __init__(self, proc: subprocess.Popen[str], urls: dict[str, str]) -> None:
        self.proc, self.urls = proc, urls

    def command(self, line: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def result(self, name: str, ttft: list[float], errors: int) -> Result:
        """The run's result: client-side times, and the backends' counts and waits."""
        return Result(name, ttft, self.command("counts"), errors, self.command("delays"))


@contextmanager
def backends() -> Iterator[Backends]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._balance_backends", "--lifetime", "1800"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        yield Backends(proc, json.loads(proc.stdout.readline()))
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------- ours


def _tier(urls: dict[str, str], strategy: str, hedge: Hedge | None) -> Tier:
    members = [
        OpenAICompatible(name=b, base_url=urls[b], api_key="sk-bench", model="test-model")
        for b in BACKENDS
    ]
    weights = [5, 3, 2] if strategy == "weighted" else None
    return Tier(members, strategy=strategy, weights=weights, hedge=hedge, seed=1)  # type: ignore[arg-type]


async def _ttft(client: AsyncClient, out: list[float], errors: list[str]) -> None:
    started = time.perf_counter()
    try:
        stream = await client.chat.completions.create(messages=MESSAGES, stream=True)
        first = None
        async with stream:
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
        if first is None:
            errors.append("no content")
        else:
            out.append(first)
    except Exception as exc:  # counted, the run goes on
        errors.append(type(exc).__name__)


async def run_ours(
    servers: Backends, name: str, strategy: str, hedge: Hedge | None, args: argparse.Namespace
) -> Result:
    tier = _tier(servers.urls, strategy, hedge)
    ttfts: list[float] = []
    errors: list[str] = []
    async with AsyncClient([tier], retry=Retry(attempts=1), coalesce=False, timeout=30) as client:
        await run_concurrently(args.warmup, args.concurrency, lambda _: _ttft(client, [], []))
        servers.command("reset")
        await run_concurrently(args.n, args.concurrency, lambda _: _ttft(client, ttfts, errors))
    return servers.result(name, ttfts, len(errors))


# ------------------------------------------------------------------------------ LiteLLM


def litellm_python(given: str | None) -> str | None:
    """An interpreter that can import litellm (None: none found)."""
    for candidate in (given, os.environ.get("LITELLM_PYTHON"), sys.executable):
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import litellm"], capture_output=True, env=child_env(), check=False
        )
        if probe.returncode == 0:
            return candidate
    return None


def run_litellm(servers: Backends, python: str, strategy: str, args: argparse.Namespace) -> Result:
    cmd = [python, "-m", "benchmarks._balance_litellm", json.dumps(servers.urls), strategy]
    cmd += [str(args.n), str(args.concurrency), str(args.warmup)]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"LiteLLM runner did not start ({line!r})")
    servers.command("reset")
    proc.stdin.write("go\n")
    proc.stdin.flush()
    data = json.loads(proc.stdout.readline())
    proc.wait(30)
    name = f"LiteLLM {strategy}"
    result = servers.result(name, data["ttft"], len(data["errors"]))
    result.extra["version"] = data["version"]
    return result


# ------------------------------------------------------------------------------ report


def table(results: list[Result]) -> str:
    lines = [
        "| run | p50 TTFT | p99 TTFT | upstream p99 | fast / slow / tail | extra requests "
        "| errors |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        split = " / ".join(f"{r.shares[b]:.0f} %" for b in BACKENDS)
        # a hedged run's upstream waits include the losers': not the caller's wait
        upstream = "-" if "Hedge" in r.name else f"{1000 * r.pct(0.99, upstream=True):.0f} ms"
        lines.append(
            f"| {r.name} | {1000 * r.pct(0.5):.0f} ms | {1000 * r.pct(0.99):.0f} ms "
            f"| {upstream} | {split} "
            f"| {r.extra_requests():.1f} % | {r.errors} |"
        )
    return "\n".join(lines)


def targets(by: dict[str, Result]) -> list[str]:
    out = []
    w = by.get("weighted 5/3/2")
    if w is not None:
        off = max(abs(w.shares[b] - t) for b, t in zip(BACKENDS, (50, 30, 20), strict=True))
        out.append(f"weighted 5/3/2: largest share error {off:.1f} points (target <= 3)")
    ll, peer = by.get("least_latency"), by.get("LiteLLM latency-based-routing")
    if ll is not None and peer is not None:
        ratio = ll.pct(0.99) / peer.pct(0.99)
        up = ll.pct(0.99, upstream=True) / peer.pct(0.99, upstream=True)
        out.append(
            f"least_latency p99 / LiteLLM latency-based p99 = {ratio:.2f} (target <= 0.7); "
            f"upstream waits alone: {up:.2f}"
        )
    for base in ("round_robin", "weighted 5/3/2", "least_latency"):
        none, h = by.get(base), by.get(f"{base} + Hedge(p95, 5 %)")
        if none is not None and h is not None:
            cut = none.pct(0.99) / h.pct(0.99)
            out.append(
                f"{base}: Hedge(after='p95', max_extra=0.05) cuts p99 {cut:.1f}x with "
                f"{h.extra_requests():.1f} % extra requests (target >= 2x, <= 5 %)"
            )
    return out


def chart(results: list[Result], path: Path) -> bool:
    """Stacked bars of the load split per run, p99 written beside; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig: Any
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(results) + 1.8))
    colors = {"fast": "#4c9a2a", "slow": "#e0a526", "tail": "#c0392b"}
    ys = list(range(len(results)))
    left = [0.0] * len(results)
    for b in BACKENDS:
        widths = [r.shares[b] for r in results]
        ax.barh(ys, widths, left=left, color=colors[b], label=f"{b} backend")
        left = [x + w for x, w in zip(left, widths, strict=True)]
    for y, r in zip(ys, results, strict=True):
        ax.text(101, y, f"p99 {1000 * r.pct(0.99):.0f} ms", va="center", fontsize=8)
    ax.set_yticks(ys, [r.name for r in results])
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xlabel("share of upstream requests (%)")
    ax.set_title("Load split over fast / 2x slower / heavy-tail backends")
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.09 - 0.6 / len(results)), ncol=3,
              fontsize=8)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


HEDGE = Hedge(after="p95", max_extra=0.05)
OURS: list[tuple[str, str, Hedge | None]] = [
    ("weighted 5/3/2", "weighted", None),
    ("round_robin", "round_robin", None),
    ("least_busy", "least_busy", None),
    ("least_latency", "least_latency", None),
    ("weighted 5/3/2 + Hedge(p95, 5 %)", "weighted", HEDGE),
    ("round_robin + Hedge(p95, 5 %)", "round_robin", HEDGE),
    ("least_latency + Hedge(p95, 5 %)", "least_latency", HEDGE),
]
PEERS = ("simple-shuffle", "least-busy", "latency-based-routing")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_balance")
    parser.add_argument("--n", type=int, default=1000, help="measured requests per run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over every configuration")
    parser.add_argument("--litellm-python", default=None, help="an interpreter with litellm")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args()
    python = None if args.no_litellm else litellm_python(args.litellm_python)
    runs: list[Any] = [(name, strategy, hedge) for name, strategy, hedge in OURS]
    runs += [(f"LiteLLM {s}", s, None) for s in PEERS] if python else []
    pooled: dict[str, Result] = {}
    with backends() as servers:
        for r in range(args.repeat):  # interleaved: a slow minute of the machine hits all
            for name, strategy, hedge in runs:
                if name.startswith("LiteLLM"):
                    assert python is not None
                    got = run_litellm(servers, python, strategy, args)
                else:
                    got = anyio.run(run_ours, servers, name, strategy, hedge, args)
                print(f"[{r + 1}/{args.repeat}] " + table([got]).splitlines()[-1], flush=True)
                pooled[name] = pooled[name].merge(got) if name in pooled else got
    results = list(pooled.values())
    print()
    print(f"{args.repeat} x {args.n} streamed requests per configuration (pooled), "
          f"{args.concurrency} in flight, {args.warmup} warm-up requests first")  # fmt: skip
    if python is None:
        print("LiteLLM: not importable here (--litellm-python PATH to include it)")
    else:
        version = next((r.extra["version"] for r in results if "version" in r.extra), "?")
        print(f"LiteLLM {version} from {python}")
    print(table(results))
    print()
    for line in targets({r.name: r for r in results}):
        print(line)
    if chart(results, args.chart):
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
