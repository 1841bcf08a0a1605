"""The contention guard: a passive OpenMP wait policy, set before a llama.cpp engine loads.

llama.cpp's CPU threads are OpenMP threads. By default they spin between parallel regions,
which on a busy machine takes the cores the other threads need (measured on 2 cores at load
17: 0.23 tokens/s). ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep instead. The OpenMP runtime
reads it once, when it is loaded, so this must run before the engine's module is imported.
A value the user set is left alone. When the engine was imported earlier with no policy set,
it is too late: a ``RuntimeWarning`` says so (measured on 2 shared cores: 66-107 ms of CPU
per token instead of 19-23).
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["WAIT_POLICY", "passive_openmp"]

#: The environment variable OpenMP runtimes read for their wait policy.
WAIT_POLICY = "OMP_WAIT_POLICY"


def passive_openmp(engine_module: str | None = None) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set; return the policy in force.

    ``engine_module``: the engine's module; if it is already imported (its OpenMP runtime has
    read the environment without a policy), warn that its threads will spin."""
    if WAIT_POLICY not in os.environ and engine_module in sys.modules:
        warnings.warn(
            f"{engine_module} was imported before {WAIT_POLICY}=PASSIVE could be set, so its "
            "OpenMP threads spin and take the CPU on a busy machine; set "
            f"{WAIT_POLICY}=PASSIVE in the environment, or import {engine_module} only "
            "through LlamaCpp",
            RuntimeWarning,
            stacklevel=3,
        )
    return os.environ.setdefault(WAIT_POLICY, "PASSIVE")
