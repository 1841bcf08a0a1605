"""How many threads a llama.cpp engine generates on (``generation_threads``); no model needed.
On the real engines: tests/local/test_xllamacpp.py (which threads do the work) and
tests/local/test_llama_cpp.py (llama-cpp-python's settings)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deepseek_resilient._providers.local.omp import (
    ONE_THREAD_MAX_BYTES,
    generation_threads,
    usable_cores,
)

PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
SMALL, BIG = 98_362_432, ONE_THREAD_MAX_BYTES + 1


@pytest.mark.parametrize(
    ("n_threads", "size", "openmp", "expected"),
    [
        (None, SMALL, PASSIVE, 1),  # the default: a small model, threads sleeping at barriers
        (None, ONE_THREAD_MAX_BYTES, {"OMP_WAIT_POLICY": "passive"}, 1),
        (None, BIG, PASSIVE, None),  # a bigger model: llama.cpp's count
        (None, SMALL, {"OMP_WAIT_POLICY": "ACTIVE"}, None),  # spinning threads: barriers are cheap
        (None, SMALL, {"GOMP_SPINCOUNT": "3000"}, None),
        (None, SMALL, {**PASSIVE, "GOMP_SPINCOUNT": "3000"}, None),
        (None, SMALL, {}, None),
        (3, SMALL, PASSIVE, 3),  # the user's choice wins
        (3, BIG, {}, 3),
    ],
)
def test_a_small_model_generates_on_one_thread_only_while_threads_sleep_at_barriers(
    n_threads: int | None, size: int, openmp: dict[str, str], expected: int | None
) -> None:
    assert generation_threads(n_threads, size, openmp) == expected


def _topology(root: Path, siblings: dict[int, str]) -> Path:
    for cpu, mask in siblings.items():
        (root / f"cpu{cpu}/topology").mkdir(parents=True)
        (root / f"cpu{cpu}/topology/thread_siblings").write_text(mask + "\n")
    return root


def test_batches_get_one_thread_per_physical_core_as_llama_cpp_chooses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("Linux's CPU affinity")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    # Two cores with two hyperthreads each; then four cores; then no topology to read.
    assert usable_cores(_topology(tmp_path / "ht", {0: "3", 1: "3", 2: "c", 3: "c"})) == 2
    assert usable_cores(_topology(tmp_path / "no-ht", {0: "1", 1: "2", 2: "4", 3: "8"})) == 4
    assert usable_cores(tmp_path / "missing") == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 3})  # one core's two threads
    assert usable_cores(tmp_path / "ht") == 1
