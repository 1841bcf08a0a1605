"""Import time of ``deepseek_resilient`` vs ``httpx2`` (our transport), ``httpx`` 0.28,
``openai`` and ``litellm``.

    python -m benchmarks.bench_import [--repeats 5] [--from-source] [--first-call]

Each import runs in a fresh interpreter (``python -c``), timed inside it around the
``import`` statement only (interpreter start-up excluded); modules interleaved per repeat,
median reported. Packages that are not installed are left out.

The checkout's bytecode is written first (``compileall``, as ``pip install`` does), so
``deepseek_resilient`` loads from ``.pyc`` files like the installed packages it is compared
with. Without that, a fresh checkout under ``PYTHONDONTWRITEBYTECODE=1`` compiles every module
of the package from source on each run (~40 ms more here); ``--from-source`` measures that
(it deletes the checkout's ``__pycache__`` directories and writes none).

``--first-call`` also times what a program pays before its first answer, so that nothing
deferred at import comes back unseen on the first request: import, build an ``AsyncClient``
with one ``OpenAICompatible`` provider and make one request to the benchmark server (wall and
CPU time, fresh interpreters, interleaved with the same steps done with ``httpx2`` alone).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, Section, Target, installed, median, run_json, server_process

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


FIRST_CALL = {
    "deepseek_resilient": (
        "import deepseek_resilient as d\n"
        "async def go():\n"
        "    client = d.AsyncClient([d.OpenAICompatible(name='p', base_url=URL, model='ok', "
        "api_key='k')])\n"
        "    async with client:\n"
        "        r = await client.chat.completions.create(messages=[{'role': 'user', "
        "'content': 'hi'}])\n"
        "    assert r.choices[0].message.content\n"
    ),
    "httpx2": (
        "import httpx2\n"
        "async def go():\n"
        "    async with httpx2.AsyncClient() as client:\n"
        "        r = await client.post(URL + '/chat/completions', json={'model': 'ok', "
        "'messages': [{'role': 'user', 'content': 'hi'}]})\n"
        "    assert r.json()['choices'][0]['message']['content']\n"
    ),
}
"""module -> a script run after ``URL = ...``: import, build a client, one request (``go``)."""

FIRST_CALL_TIMER = (
    "import json, time\nt, c = time.perf_counter(), time.process_time()\n{body}"
    "import anyio\nanyio.run(go)\n"
    "print(json.dumps({{'wall': time.perf_counter() - t, 'cpu': time.process_time() - c}}))\n"
)


def measure_first_call(repeats: int) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds from the import to the first answer, per module in FIRST_CALL."""
    write_bytecode()
    times: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": []} for m in FIRST_CALL}
    with server_process(lifetime=600) as server:
        for _ in range(repeats):
            for m, body in FIRST_CALL.items():
                script = f"URL = {server.base_url!r}\n" + FIRST_CALL_TIMER.format(body=body)
                out = run_json(["-c", script])
                times[m]["wall"].append(out["wall"])
                times[m]["cpu"].append(out["cpu"])
    return times


def write_bytecode() -> None:
    """Compile this checkout's package to ``__pycache__`` (git ignores it), as an install does."""
    if not compileall.compile_dir(ROOT / "deepseek_resilient", quiet=1):
        raise RuntimeError("deepseek_resilient did not compile")


def drop_bytecode() -> None:
    """Delete this checkout's ``__pycache__`` directories and stop children writing new ones."""
    for cache in (ROOT / "deepseek_resilient").rglob("__pycache__"):
        shutil.rmtree(cache)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # children inherit it (child_env)


def measure(repeats: int, from_source: bool = False) -> dict[str, list[float]]:
    if from_source:
        drop_bytecode()
    else:
        write_bytecode()
    modules = [m for m, dist in MODULES.items() if dist is None or installed(dist)]
    times: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(repeats):
        for m in modules:
            times[m].append(run_json(["-c", SNIPPET.format(m=m)])["seconds"])
    return times


def section(times: dict[str, list[float]], repeats: int, from_source: bool = False) -> Section:
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
            "interleaved. `deepseek_resilient` imports pydantic and anyio itself; it does not "
            "import httpx2 until an HTTP provider is built, nor llama-cpp-python, torch or "
            "transformers until a local model is used. "
            + (
                "Every run compiled `deepseek_resilient` from source (`--from-source`)."
                if from_source
                else "All modules load from bytecode (the checkout's is written first, as an "
                "install does)."
            )
        ),
        header=["module", "import s (median)", "vs httpx2", "range s"],
        rows=rows,
        targets=[
            Target("import deepseek_resilient", ours, "<= 0.12 s", ours <= 0.12, f"{ours:.3f} s")
        ],
        notes=[f"{m}: not installed, not measured" for m in missing],
        data={m: median(v) for m, v in times.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="compile deepseek_resilient from source in every run (deletes the checkout's "
        "__pycache__ directories, sets PYTHONDONTWRITEBYTECODE=1)",
    )
    parser.add_argument(
        "--first-call",
        action="store_true",
        help="also time import + building an AsyncClient + one request (benchmark server)",
    )
    args = parser.parse_args()
    times = measure(args.repeats, args.from_source)
    print(section(times, args.repeats, args.from_source).text())
    if args.first_call:
        print(f"\nimport + client + first answer (median of {args.repeats}, fresh interpreters):")
        for m, t in measure_first_call(args.repeats).items():
            print(f"  {m:20s} wall {median(t['wall']):.3f} s  CPU {median(t['cpu']):.3f} s")


if __name__ == "__main__":
    main()
