"""The TOML config file: ``load_config`` and its error type.

Only the error type loads with the package (``import deepseek_resilient`` exports it); the
loader (and ``tomllib``) loads on first use of any other name here."""

from typing import TYPE_CHECKING, Any

from .locate import ConfigFileError

if TYPE_CHECKING:
    from .load import CONFIG_ENV, LoadedConfig, chain_for, config_path, load_config

__all__ = [
    "CONFIG_ENV",
    "ConfigFileError",
    "LoadedConfig",
    "chain_for",
    "config_path",
    "load_config",
]

_FROM_LOAD = frozenset({"CONFIG_ENV", "LoadedConfig", "chain_for", "config_path", "load_config"})


def __getattr__(name: str) -> Any:
    if name in _FROM_LOAD:
        from . import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
