"""The contention guard: a passive OpenMP wait policy, set before a llama.cpp engine loads.

llama.cpp's CPU threads are OpenMP threads. By default they spin between parallel regions,
which on a busy machine takes the cores the other threads need (measured on 2 cores at load
17: 0.23 tokens/s). ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep instead. The OpenMP runtime
reads it once, when it is loaded, so this must run before the engine's module is imported.
A value the user set is left alone.
"""

from __future__ import annotations

import os

__all__ = ["WAIT_POLICY", "passive_openmp"]

#: The environment variable OpenMP runtimes read for their wait policy.
WAIT_POLICY = "OMP_WAIT_POLICY"


def passive_openmp() -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set; return the policy in force."""
    return os.environ.setdefault(WAIT_POLICY, "PASSIVE")
