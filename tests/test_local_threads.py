"""How many threads a llama.cpp engine generates on (``generation_threads``); no model needed.
On the real engines: tests/local/test_xllamacpp.py (which threads do the work) and
tests/local/test_llama_cpp.py (llama-cpp-python's settings)."""

from __future__ import annotations

import pytest

from deepseek_resilient._providers.local.omp import (
    ONE_THREAD_MAX_BYTES,
    generation_threads,
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
