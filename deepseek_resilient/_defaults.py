"""The provider chain ``Client()`` builds from the environment when given none."""

from __future__ import annotations

import os

from ._errors import ConfigurationError
from ._providers.base import Provider

__all__ = ["default_providers"]


def default_providers() -> list[Provider]:
    """DeepSeek when ``DEEPSEEK_API_KEY`` is set, then the embedded local model if installed."""
    from ._providers.openai_compat import DeepSeek

    chain: list[Provider] = []
    if os.environ.get("DEEPSEEK_API_KEY"):
        chain.append(DeepSeek())
    if not chain:
        raise ConfigurationError(
            "no provider can serve: set DEEPSEEK_API_KEY for DeepSeek, "
            "or install the offline model with: pip install 'deepseek-resilient[llama]'"
        )
    return chain
