"""The embedded engine's OpenMP waiting, quiet and under CPU hogs: what the contention guard picks.

    python -m benchmarks.bench_omp [--hogs 0,2,6] [--rounds 3] [--max-tokens 48]

llama.cpp's threads wait at many barriers per token. Four ways to run, each in a fresh
interpreter (the OpenMP runtime reads its environment once, when it loads):

* ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once), one thread generating: what ``LlamaCpp`` does
  when you set none of the variables nor ``n_threads`` (the child starts with both variables
  unset and reports what the guard set);
* the same with ``n_threads=2``: both threads generate, sleeping at every barrier (the default
  before one thread generated);
* ``GOMP_SPINCOUNT=3000``: a short spin, then sleep (llama.cpp's thread count);
* ``GOMP_SPINCOUNT=300000``: libgomp's own default when nothing is set (spin long).

For each number of hogs (processes spinning in pure Python, started before the engine), each
way generates ``--max-tokens`` tokens per request, one request at a time through
``AsyncClient([LlamaCpp()])`` (greedy, ``ignore_eos``), three requests after a warm-up; the
ways are interleaved and rotated each round. Reported: median tokens/s (wall) and CPU ms per
token of the engine's process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, Section, median, skipped

TITLE = "4d. llama.cpp: how OpenMP threads wait (the contention guard), quiet and under CPU hogs"
OPENMP = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
#: A way to run -> (OpenMP variables, ``LlamaCpp(n_threads=)``).
WAYS: dict[str, tuple[dict[str, str], int | None]] = {
    "sleep at once, one thread generates (the default)": ({}, None),
    "sleep at once, two threads generate (`n_threads=2`)": ({}, 2),
    "short spin, then sleep (`GOMP_SPINCOUNT=3000`)": ({"GOMP_SPINCOUNT": "3000"}, None),
    "long spin (libgomp's default: `GOMP_SPINCOUNT=300000`)": ({"GOMP_SPINCOUNT": "300000"}, None),
}
HOG = "import sys; print('ready', flush=True)\nwhile True: pass"
CHILD = """
import json, os, sys, time
import anyio
from deepseek_resilient import AsyncClient, LlamaCpp
max_tokens, n_threads = int(sys.argv[1]), json.loads(sys.argv[2])
async def main():
    local = LlamaCpp(parallel=1, warm=True, n_threads=n_threads)
    async with AsyncClient([local], timeout=600) as client:
        async def one(i):
            t0, c0 = time.perf_counter(), time.process_time()
            r = await client.chat.completions.create(
                messages=[{"role": "user", "content": f"Tell a story about {i}."}],
                max_tokens=max_tokens, temperature=0, cache=False,
                extra_body={"ignore_eos": True})
            n = r.usage.completion_tokens
            return n / (time.perf_counter() - t0), (time.process_time() - c0) / n
        await one(0)
        runs = [await one(i) for i in range(1, 4)]
    print(json.dumps({"tps": [t for t, _ in runs], "cpu": [c for _, c in runs],
                      "set": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
                              if k in os.environ}}))
anyio.run(main)
"""


def _child(way: tuple[dict[str, str], int | None], max_tokens: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in OPENMP} | way[0]
    command = [sys.executable, "-c", CHILD, str(max_tokens), json.dumps(way[1])]
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=900, stdin=subprocess.DEVNULL)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _with_hogs(count: int, rounds: int, max_tokens: int) -> dict[str, dict[str, list[float]]]:
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], stdout=subprocess.PIPE, text=True)
            for _ in range(count)]  # fmt: skip
    got: dict[str, dict[str, list[float]]] = {w: {"tps": [], "cpu": []} for w in WAYS}
    try:
        for hog in hogs:
            assert hog.stdout is not None and hog.stdout.readline().strip() == "ready"
        names = list(WAYS)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                result = _child(WAYS[name], max_tokens)
                if not WAYS[name][0] and result["set"] != {"OMP_WAIT_POLICY": "PASSIVE"}:
                    raise RuntimeError(f"the guard set {result['set']}")
                print(f"  {count} hogs, {name}: {result['tps']}", file=sys.stderr, flush=True)
                got[name]["tps"] += result["tps"]
                got[name]["cpu"] += result["cpu"]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return got


def run(hogs: list[int], rounds: int, max_tokens: int) -> Section:
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        return skipped(TITLE, "xllamacpp is not installed")
    rows: list[list[str]] = []
    for count in hogs:
        for name, got in _with_hogs(count, rounds, max_tokens).items():
            tps, cpu = got["tps"], got["cpu"]
            spread = f"{min(tps):.1f}-{max(tps):.1f}"
            rows.append([str(count), name, f"{median(tps):.1f}", spread,
                         f"{median(cpu) * 1000:.1f}"])  # fmt: skip
    return Section(
        title=TITLE,
        method=(
            f"One request at a time, {max_tokens} tokens each (greedy, `ignore_eos`), through "
            f"`AsyncClient([LlamaCpp()])` on {os.cpu_count()} CPUs; each way in a fresh "
            f"interpreter, 3 requests per run after a warm-up, {rounds} interleaved rounds; "
            "hogs: processes spinning in Python, started first. Medians."
        ),
        header=["CPU hogs", "how threads wait", "tok/s", "range", "CPU ms/token"],
        rows=rows,
        targets=[],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hogs", default="0,2,6")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    hogs = [int(h) for h in args.hogs.split(",")]
    print(run(hogs, args.rounds, args.max_tokens).text())


if __name__ == "__main__":
    main()
