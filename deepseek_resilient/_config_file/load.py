"""Read a TOML config file (``Client.from_config``, ``--config``): providers, tiers, policies,
the state URL, and the batch and queue sections. See docs/config.md for every key."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from .._core.errors import ConfigurationError
from .._providers.base import Provider
from .build import POLICIES, Document
from .locate import ConfigFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["CONFIG_ENV", "LoadedConfig", "config_path", "load_config"]

CONFIG_ENV = "DEEPSEEK_RESILIENT_CONFIG"

_SCALARS: dict[str, tuple[type, ...]] = {
    "timeout": (int, float),
    "coalesce": (bool,),
    "failover_reserve": (int, float),
    "stats": (bool,),
}
_SECTIONS = ("batch", "queue")
_TOP = {"providers", "state", *POLICIES, *_SCALARS, *_SECTIONS}
_STATE_KEYS = {
    "url",
    "namespace",
    "op_timeout",
    "retry_interval",
    "l1_size",
    "lease_ttl",
    "result_ttl",
    "max_connections",
}


@dataclass
class LoadedConfig:
    """What a config file describes. ``providers`` is None when the file lists none (the
    client then builds its chain from the environment); ``options`` are the other keyword
    arguments of ``AsyncClient``; ``batch`` and ``queue`` their sections, as written."""

    file: str
    providers: list[Provider] | None
    options: dict[str, Any] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)
    queue: dict[str, Any] = field(default_factory=dict)


def config_path(path: str | os.PathLike[str] | None) -> str:
    """``path``, else ``$DEEPSEEK_RESILIENT_CONFIG``; ``ConfigurationError`` when neither."""
    chosen = os.fspath(path) if path is not None else os.environ.get(CONFIG_ENV)
    if not chosen:
        raise ConfigurationError(f"no config file: pass a path or set {CONFIG_ENV}")
    return chosen


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read and check the TOML file at ``path`` (default: ``$DEEPSEEK_RESILIENT_CONFIG``).
    Anything wrong raises ``ConfigFileError`` naming the line and the field."""
    file = config_path(path)
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"can't read: {exc}", file=file, line=None, field=None) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        message = f"not valid TOML: {exc}"
        raise ConfigFileError(message, file=file, line=line, field=None) from None
    doc = Document(file, text, env)
    doc.unknown(raw, _TOP, ())
    data = doc.expand(raw)
    options: dict[str, Any] = {}
    for key, kinds in _SCALARS.items():
        if key in data:
            value = data[key]
            if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
                wanted = " or ".join(k.__name__ for k in kinds)
                raise doc.error((key,), f"must be {wanted}, got {value!r}")
            options[key] = value
    for name in POLICIES:
        if name in data:
            options[name] = doc.policy(name, data[name], (name,))
    if "state" in data:
        options["state"] = _state(doc, data["state"])
    providers = doc.providers(data["providers"]) if "providers" in data else None
    sections = {s: doc.table(data.get(s, {}), (s,)) for s in _SECTIONS}
    return LoadedConfig(file, providers, options, sections["batch"], sections["queue"])


def _state(doc: Document, value: object) -> Any:
    """``state = "redis://..."`` or a ``[state]`` table (``url``, ``namespace``, ...)."""
    from .._state.redis import RedisState

    if isinstance(value, str):
        value = {"url": value}
    table = doc.table(value, ("state",))
    doc.unknown(table, _STATE_KEYS, ("state",))
    if not isinstance(table.get("url"), str):
        raise doc.error(("state", "url"), "missing: the Redis URL, e.g. redis://host:6379/0")
    return doc.construct(RedisState, table, ("state",))


def chain_for(path: str | os.PathLike[str] | None) -> list[Provider]:
    """The CLI's providers: those of the config file (``--config`` or
    ``$DEEPSEEK_RESILIENT_CONFIG``) when there is one that lists any, else the default chain."""
    from .._client.defaults import default_providers

    if path is not None or os.environ.get(CONFIG_ENV):
        providers = load_config(path).providers
        if providers:
            return providers
    return default_providers()
