"""The contention guard: a passive OpenMP wait policy, set before a llama.cpp engine loads, and
how many threads generate under it.

llama.cpp's CPU threads are OpenMP threads. Between parallel regions they wait, and how they
wait is a trade:

* **Spinning** (libgomp's default spins about 300,000 times) takes the cores the other work
  needs on a busy machine (measured on 2 cores at load 17: 0.23 tokens/s).
* **Sleeping at once** (``OMP_WAIT_POLICY=PASSIVE``) costs a kernel wake-up at each of the
  many barriers of a token: with two threads generating, on a quiet 2-core machine one request
  runs at about half the spinning speed, but on a busy one it never collapses and takes the
  least CPU.
* A short spin (``GOMP_SPINCOUNT=3000``) is as fast as spinning on a quiet machine; on a busy
  one its speed swings from run to run (9.6-16.0 tok/s under 6 CPU hogs on 2 cores, against
  13.4-15.0 for passive with one generating thread) and it takes more CPU per token.

The embedded model is a fallback, often used when the machine is busy with other work, so the
guard picks passive. ``python -m benchmarks.bench_omp`` measures the ways. The OpenMP runtime
reads its environment once, when it is loaded, so this must run before the engine's module is
imported. A policy or spin count the user set is left alone. When the engine was imported
earlier with neither set, it is too late: a ``RuntimeWarning`` says so (measured on 2 shared
cores: 66-107 ms of CPU per token instead of 19-23).

Under passive waiting, a step that decodes one token (one request generating) pays a wake-up at
each barrier, hundreds per token, while a small model's work between two barriers is tiny. So
``generation_threads`` gives such steps one thread, which needs no barrier, unless the user
chose: on 2 cores, one thread generated 1.3-1.9 times faster, at about half the CPU per token,
for SmolLM2-135M stored at 98 MB (Q4_1) to 540 MB (F32), and 1.25 times for Gemma 3 270M
(253 MB, Q4_K_M). Bigger models do more work between barriers: from the costs measured here (a
second sleeping thread adds about 17 ms of wake-ups per token), two threads pay from about 1.5
times Gemma 3 270M's work per token, a Q4 model of about 300 MB. Steps of several tokens
(prompts, and requests decoded together) keep every core: their work amortises the barriers.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "ONE_THREAD_MAX_BYTES",
    "SPIN",
    "WAIT_POLICY",
    "generation_threads",
    "passive_openmp",
    "usable_cores",
]

#: The environment variable OpenMP runtimes read for their wait policy.
WAIT_POLICY = "OMP_WAIT_POLICY"
#: libgomp's busy-wait length, in spins, before a waiting thread sleeps.
SPIN = "GOMP_SPINCOUNT"
#: Model files up to this size generate on one thread under passive waiting (measured faster
#: for models of 98-540 MB; bigger quantised models do enough work per token for two threads).
ONE_THREAD_MAX_BYTES = 300_000_000


def passive_openmp(engine_module: str | None = None) -> dict[str, str]:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is
    set; return those of the two in force.

    ``engine_module``: the engine's module; if it is already imported (its OpenMP runtime has
    read the environment with neither set), warn that its threads will spin."""
    user_set = WAIT_POLICY in os.environ or SPIN in os.environ
    if not user_set:
        if engine_module in sys.modules:
            warnings.warn(
                f"{engine_module} was imported before {WAIT_POLICY}=PASSIVE could be set, so "
                "its OpenMP threads spin and take the CPU on a busy machine; set "
                f"{WAIT_POLICY}=PASSIVE in the environment, or import {engine_module} only "
                "through LlamaCpp",
                RuntimeWarning,
                stacklevel=3,
            )
        os.environ[WAIT_POLICY] = "PASSIVE"
    return {name: os.environ[name] for name in (WAIT_POLICY, SPIN) if name in os.environ}


def generation_threads(
    n_threads: int | None, model_bytes: int, openmp: Mapping[str, str]
) -> int | None:
    """Threads for a step that decodes one token: ``n_threads`` when given; else one when
    threads sleep at once at barriers (``openmp``, as ``passive_openmp`` returns it) and the
    model file has at most ``ONE_THREAD_MAX_BYTES``; else None (llama.cpp's choice)."""
    if n_threads is not None:
        return n_threads
    passive = openmp.get(WAIT_POLICY, "").upper() == "PASSIVE" and SPIN not in openmp
    return 1 if passive and model_bytes <= ONE_THREAD_MAX_BYTES else None


def usable_cores(topology: Path = Path("/sys/devices/system/cpu")) -> int:
    """The physical cores among the CPUs this process may use: llama.cpp's own default thread
    count (hyperthreads of one core share its arithmetic units). Linux reads each CPU's
    ``thread_siblings`` under ``topology``; elsewhere, or when that cannot be read, the CPUs."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    try:
        cores = {(topology / f"cpu{cpu}/topology/thread_siblings").read_text() for cpu in cpus}
    except OSError:
        return len(cpus)
    return max(1, len(cores))
