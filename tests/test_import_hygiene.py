"""``import deepseek_resilient`` stays light: optional and heavy dependencies are imported
when the feature that needs them is used, never at import (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

#: Imported on first use only: pybreaker imports redis (and redis opentelemetry) when they are
#: installed; the metrics hooks and local engines are optional extras.
HEAVY = (
    "redis",
    "pybreaker",
    "prometheus_client",
    "opentelemetry",
    "llama_cpp",
    "torch",
    "transformers",
)


def _loaded_after(code: str) -> set[str]:
    script = (
        f"import json, sys; {code}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120
    )
    return set(json.loads(out.stdout))


def test_import_does_not_load_heavy_dependencies() -> None:
    loaded = _loaded_after("import deepseek_resilient")
    assert "deepseek_resilient" in loaded
    assert not loaded & set(HEAVY), f"imported at import time: {sorted(loaded & set(HEAVY))}"


def test_the_check_sees_a_heavy_import() -> None:
    # The same probe notices pybreaker once a breaker is built (so the test above can fail).
    loaded = _loaded_after(
        "import deepseek_resilient as d; from deepseek_resilient._hooks import Hooks; "
        "Hooks(builtin=False).breaker_listener('p')"
    )
    assert "pybreaker" in loaded
