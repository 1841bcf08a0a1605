"""Known hosts of DeepSeek models, one line each: ``type = "<name>"`` in a ``[[providers]]``
entry fills in the base URL, the model and where the key comes from (each overridable).
Base URLs and model ids as each host documents them; ``model`` picks another of its models."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["PRESETS", "Preset"]


class Preset(NamedTuple):
    base_url: str
    model: str
    key_env: str


# fmt: off
PRESETS: dict[str, Preset] = {
    "openrouter": Preset("https://openrouter.ai/api/v1", "deepseek/deepseek-chat-v3-0324", "OPENROUTER_API_KEY"),  # noqa: E501
    "novita": Preset("https://api.novita.ai/openai", "deepseek/deepseek-v3-0324", "NOVITA_API_KEY"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", "accounts/fireworks/models/deepseek-v3p1", "FIREWORKS_API_KEY"),  # noqa: E501
}
# fmt: on
"""``type = "deepseek"`` (DeepSeek's own API, ``https://api.deepseek.com``, key from
``DEEPSEEK_API_KEY``) is the ``DeepSeek`` provider itself, so it is not listed here."""
