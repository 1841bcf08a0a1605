"""The provider chain ``Client()`` builds from the environment when given none."""

from __future__ import annotations

import importlib.util
import os

from .._core.errors import ConfigurationError, LocalModelError
from .._providers.base import Provider

__all__ = ["default_providers"]


def _local_provider() -> Provider | None:
    """The embedded model on the first local engine installed (llama.cpp on xllamacpp or
    llama-cpp-python, then transformers). Also the fallback of the drop-in ``OpenAI`` /
    ``AsyncOpenAI`` clients."""
    from .._providers.local.embedded import embedded_model_path

    try:
        embedded_model_path()
    except LocalModelError:
        return None
    if any(importlib.util.find_spec(m) for m in ("xllamacpp", "llama_cpp")):
        from .._providers.local.llama_cpp import LlamaCpp

        return LlamaCpp()
    if all(importlib.util.find_spec(m) for m in ("transformers", "torch", "gguf")):
        from .._providers.local.hf_transformers import Transformers

        return Transformers()
    return None


def default_providers() -> list[Provider]:
    """DeepSeek when ``DEEPSEEK_API_KEY`` is set, then the embedded local model if installed."""
    from .._providers.http.deepseek import DeepSeek
    from .._providers.local.embedded import SETUP_HINT

    chain: list[Provider] = []
    if os.environ.get("DEEPSEEK_API_KEY"):
        chain.append(DeepSeek())
    local = _local_provider()
    if local is not None:
        chain.append(local)
    if not chain:
        raise ConfigurationError(
            "no provider can serve: set DEEPSEEK_API_KEY for DeepSeek, "
            f"or install the offline model with: {SETUP_HINT}"
        )
    return chain
