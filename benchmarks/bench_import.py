"""Import time of ``deepseek_resilient`` vs ``httpx2`` (our transport), ``httpx`` 0.28,
``openai`` and ``litellm``.

    python -m benchmarks.bench_import [--repeats 5]

Each import runs in a fresh interpreter (``python -c``), timed inside it around the
``import`` statement only (interpreter start-up excluded); modules interleaved per repeat,
median reported. Packages that are not installed are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Section, Target, installed, median, run_json

MODULES = {
    "deepseek_resilient": None,
    "httpx2": None,
    "httpx": "httpx",
    "openai": "openai",
    "litellm": "litellm",
}
"""module -> the distribution it needs (None: always there, this checkout or its dependency)."""

SNIPPET = (
    "import json, time; t = time.perf_counter(); import {m}; "
    "print(json.dumps({{'seconds': time.perf_counter() - t}}))"
)


def measure(repeats: int) -> dict[str, list[float]]:
    modules = [m for m, dist in MODULES.items() if dist is None or installed(dist)]
    times: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(repeats):
        for m in modules:
            times[m].append(run_json(["-c", SNIPPET.format(m=m)])["seconds"])
    return times


def section(times: dict[str, list[float]], repeats: int) -> Section:
    base = median(times["httpx2"])
    rows = [
        [f"`{m}`", f"{median(v):.3f}", f"{median(v) / base:.2f} x", f"{min(v):.3f}-{max(v):.3f}"]
        for m, v in times.items()
    ]
    ours = median(times["deepseek_resilient"])
    missing = [m for m in MODULES if m not in times]
    return Section(
        title="2. Import time",
        method=(
            f"`import X` timed inside a fresh interpreter, median of {repeats}, modules "
            "interleaved. `deepseek_resilient` imports httpx2, pydantic and anyio itself; it "
            "does not import llama-cpp-python, torch or transformers until a local model is used."
        ),
        header=["module", "import s (median)", "vs httpx2", "range s"],
        rows=rows,
        targets=[
            Target("import deepseek_resilient", ours, "<= 0.15 s", ours <= 0.15, f"{ours:.3f} s")
        ],
        notes=[f"{m}: not installed, not measured" for m in missing],
        data={m: median(v) for m, v in times.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(section(measure(args.repeats), args.repeats).text())


if __name__ == "__main__":
    main()
