"""The TOML config file: ``load_config`` and its error type."""

from .load import CONFIG_ENV, LoadedConfig, chain_for, config_path, load_config
from .locate import ConfigFileError

__all__ = [
    "CONFIG_ENV",
    "ConfigFileError",
    "LoadedConfig",
    "chain_for",
    "config_path",
    "load_config",
]
