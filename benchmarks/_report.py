"""Render the sections as Markdown (``docs/benchmarks.md``) and the overhead plot (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks._common import Section, verdict

HOT_PATH = Path(__file__).with_name("hot_path.md")
"""Hand-written profile findings and proposals, appended to the generated page."""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def markdown(
    sections: list[Section],
    machine: dict[str, str],
    command: str,
    plot: str | None,
    profile: str | None,
    elapsed: float,
) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {machine['date']} in {elapsed:.0f} s. Every figure below "
        "sets our client and its baseline side by side in the same run; ratios are of medians.",
        "Regenerate this page with the same command (see the README).",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; {machine['os']}; {machine['python']}",
        f"- Packages: {machine['packages']}",
        f"- Load average at the start: {machine['load']} (other work was running: medians and "
        "interleaved runs keep the ratios fair, the absolute figures are noisier)",
        "- The server is `python -m benchmarks._server` (this library's fault-injecting test "
        "server) in its own process on 127.0.0.1; it stops with the run.",
        "",
        "## Targets",
        "",
    ]
    rows = [[t.name, t.shown, t.target, verdict(t.met)] for s in sections for t in s.targets]
    out += _table(["measure", "measured", "target", "verdict"], rows)
    for s in sections:
        out += ["", f"## {s.title}", ""]
        if s.method:
            out += [s.method, ""]
        out += _table(s.header, s.rows)
        if s.notes:
            out += [""] + [f"- {n}" for n in s.notes]
        if plot and s.title.startswith("1."):
            out += ["", f"![CPU per call by client]({plot})"]
        if profile and s.title.startswith("1."):
            out += [
                "",
                "Where our AsyncClient's time goes (pyinstrument, the same workload):",
                "",
                "```",
                profile,
                "```",
            ]
    if HOT_PATH.is_file():
        out += ["", HOT_PATH.read_text(encoding="utf-8").rstrip()]
    return "\n".join(out) + "\n"


def plot_overhead(section: Section, path: Path) -> bool:
    """A bar chart of CPU and wall time per call by client; False when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cpu: dict[str, float] = section.data["cpu_us"]
    wall: dict[str, float] = section.data["wall_us"]
    labels = list(cpu)
    fig: Any
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(labels) + 1.6))
    ys = range(len(labels))
    ax.barh([y - 0.2 for y in ys], [cpu[k] for k in labels], height=0.4, label="CPU us/call")
    ax.barh([y + 0.2 for y in ys], [wall[k] for k in labels], height=0.4, label="wall us/call")
    for y, k in zip(ys, labels, strict=True):
        ax.text(cpu[k], y - 0.2, f" {cpu[k]:,.0f}", va="center", fontsize=8)
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()
    ax.set_xlabel("microseconds per call (lower is better)")
    ax.set_title("Client overhead per call (local server, concurrency 32)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
