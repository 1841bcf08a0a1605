"""The benchmark suite: ``python -m benchmarks [--quick]``.

Starts its own OpenAI-compatible server in a separate process (loopback, bounded lifetime),
runs every section with our client and its baseline side by side, prints the results and
writes ``docs/benchmarks.md`` and ``docs/benchmarks-overhead.png``.

Sections: 1 overhead per call (raw httpx2 and httpx 0.28, our AsyncClient and sync Client,
openai-python, LiteLLM); 2 import time; 3 cache hit, merging, failover, stalled primary;
4 local models (llama.cpp, its batching, the embedded model candidates, how llama.cpp's
threads wait quiet and under CPU hogs, transformers micro-batching). ``--only`` picks
sections, e.g. ``--only 1,3``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # LiteLLM must never reach the internet

from benchmarks import (
    bench_dropin,
    bench_import,
    bench_llama_cpp,
    bench_models,
    bench_omp,
    bench_overhead,
    bench_resilience,
    bench_transformers,
)
from benchmarks._common import ROOT, Section, machine_info, server_process
from benchmarks._profile import render
from benchmarks._report import markdown, plot_overhead

QUICK = {
    "calls": 3000,
    "repeats": 3,
    "import": 5,
    "failover": 200,
    "stall": 3,
    "merge": 3,
    "llama": 5,
    "llama_tokens": 64,
    "tf": 2,
    "tf_tokens": 32,
    "profile": 2000,
}
FULL = {
    "calls": 5000,
    "repeats": 5,
    "import": 9,
    "failover": 500,
    "stall": 5,
    "merge": 5,
    "llama": 9,
    "llama_tokens": 128,
    "tf": 3,
    "tf_tokens": 48,
    "profile": 5000,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short run (< 5 min, 2 cores)")
    parser.add_argument("--only", default="1,2,3,4", help="sections to run, e.g. 1,3")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only, write no files")
    args = parser.parse_args(argv)
    p = QUICK if args.quick else FULL
    only = {s.strip() for s in args.only.split(",")}
    started = time.perf_counter()
    machine = machine_info()
    print(f"{machine['date']}  {machine['cpu']}  {machine['cores']} cores  load {machine['load']}")
    sections: list[Section] = []
    profile: str | None = None

    def done(section: Section) -> None:
        sections.append(section)
        print(section.text(), flush=True)

    with server_process() as server:
        url = server.base_url
        overhead = None
        if only & {"1", "3"}:
            print("section 1: per-call overhead (fresh interpreter per run)", flush=True)
            overhead = bench_overhead.measure(url, p["calls"], 32, p["repeats"])
        if "1" in only and overhead:
            over = bench_overhead.section(overhead, p["calls"], 32, p["repeats"])
            done(over)
            if over.targets[0].met is False and _has("pyinstrument"):
                frames = bench_overhead.profile_ours(url, p["profile"], 32)
                profile = render(frames)
                print(profile, flush=True)
        if "1" in only and _has("openai"):
            print("section 1b: the openai drop-in (fresh interpreter per run)", flush=True)
            dropin = bench_dropin.measure(url, p["calls"], 32, p["repeats"])
            done(bench_dropin.section(dropin, p["calls"], 32, p["repeats"]))
        if "2" in only:
            done(bench_import.section(bench_import.measure(p["import"]), p["import"]))
        if "3" in only:
            assert overhead is not None
            done(bench_resilience.cache_hit_section(overhead, p["calls"]))
            done(bench_resilience.merge_section(server, p["merge"]))
            done(bench_resilience.failover_section(server, p["failover"], p["repeats"]))
            done(bench_resilience.stall_section(server, p["stall"]))
    if "4" in only:
        done(bench_llama_cpp.run(p["llama"], p["llama_tokens"]))
        done(bench_llama_cpp.run_batched(p["tf"], p["llama_tokens"]))
        done(bench_models.run(p["tf"]))
        done(bench_omp.run([0, 6], p["tf"] - 1, 32))
        done(bench_transformers.run(p["tf"], p["tf_tokens"]))

    elapsed = time.perf_counter() - started
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only != "1,2,3,4":
        command += f" --only {args.only}"
    plot = None
    if not args.no_write:
        over_sections = [s for s in sections if s.title.startswith("1.")]
        png = args.output.with_name(args.output.stem + "-overhead.png")
        if over_sections and plot_overhead(over_sections[0], png):
            plot = png.name
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(markdown(sections, machine, command, plot, profile, elapsed))
        print(f"wrote {args.output}" + (f" and {png}" if plot else ""))
    print("\nSummary (ratios of medians):")
    for s in sections:
        for t in s.targets:
            mark = {True: "met", False: "MISSED", None: "n/a"}[t.met]
            print(f"  {t.name}: {t.shown}  (target {t.target}: {mark})")
    print(f"total {elapsed:.0f} s")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
