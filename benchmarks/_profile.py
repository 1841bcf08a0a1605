"""Where our client's time goes: pyinstrument samples of the overhead benchmark's hot path.

    python -m benchmarks._profile [--calls 3000] [--concurrency 32] [--client ours-async]

Prints the top frames by self time (CPU-busy samples only: time parked in the event loop's
``select`` is left out) and, for this library's own functions, by inclusive time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IDLE = {"select", "poll", "epoll", "_run_once"}
"""Self time in these is the loop waiting for I/O, not work (``_run_once`` keeps its own)."""


def start_profiler() -> Any:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    return profiler


def _walk(frame: Any, ancestors: frozenset[str]) -> Iterator[tuple[Any, bool]]:
    key = _key(frame)
    yield frame, key not in ancestors
    for child in frame.children:
        yield from _walk(child, ancestors | {key})


def _key(frame: Any) -> str:
    """``function (file:line)``; a synthetic ``[self]`` leaf is its parent's own time."""
    while frame.function and frame.function.startswith("[") and frame.parent is not None:
        frame = frame.parent
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def _idle(frame: Any) -> bool:
    while frame.function and frame.function.startswith("[") and frame.parent is not None:
        frame = frame.parent
    return frame.function in IDLE and "selector" in str(frame.file_path)


def top_frames(profiler: Any, n: int = 15) -> list[list[Any]]:
    """[[kind, percent of busy time, frame], ...]: top self-time frames, then the top
    inclusive-time frames of deepseek_resilient itself."""
    profiler.stop()
    root = profiler.last_session.root_frame()
    if root is None:
        return []
    self_time: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    for frame, outermost in _walk(root, frozenset()):
        own = frame.time - sum(c.time for c in frame.children)
        if _idle(frame):
            continue
        self_time[_key(frame)] = self_time.get(_key(frame), 0.0) + max(own, 0.0)
        if outermost and "deepseek_resilient" in str(frame.file_path):
            inclusive[_key(frame)] = inclusive.get(_key(frame), 0.0) + frame.time
    busy = sum(self_time.values()) or 1.0
    out: list[list[Any]] = []
    for key, t in sorted(self_time.items(), key=lambda kv: -kv[1])[:n]:
        out.append(["self", round(100 * t / busy, 1), key])
    for key, t in sorted(inclusive.items(), key=lambda kv: -kv[1])[:n]:
        out.append(["inclusive", round(100 * t / busy, 1), key])
    return out


def render(frames: list[list[Any]]) -> str:
    lines = []
    for kind in ("self", "inclusive"):
        rows = [f for f in frames if f[0] == kind]
        if rows:
            title = "self time" if kind == "self" else "inclusive time (deepseek_resilient)"
            lines.append(f"top frames by {title}, % of busy samples:")
            lines += [f"  {pct:5.1f} %  {where}" for _, pct, where in rows]
    return "\n".join(lines)


def main() -> None:
    from benchmarks._common import server_process
    from benchmarks.bench_overhead import CLIENTS, profile_ours

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="ours-async")
    args = parser.parse_args()
    with server_process() as server:
        frames = profile_ours(server.base_url, args.calls, args.concurrency, args.client)
    print(render(frames))


if __name__ == "__main__":
    main()
