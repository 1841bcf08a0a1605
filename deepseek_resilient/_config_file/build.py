"""Turn a parsed config document into providers and client options, naming the line and the
field of the first thing that is wrong."""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from .._core.config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from .._core.errors import ConfigurationError
from .._providers.base import Provider
from .interpolate import MissingVariable, interpolate
from .locate import ConfigFileError, KeyLines, Path, dotted
from .presets import PRESETS

__all__ = ["POLICIES", "Document"]

POLICIES: dict[str, type[Any]] = {
    "retry": Retry,
    "breaker": CircuitBreaker,
    "rate_limit": RateLimit,
    "retry_budget": RetryBudget,
    "cache": Cache,
}
_PROVIDER_POLICIES = ("retry", "breaker", "rate_limit")
#: Provider types: the module (lazy: local engines load their extras on first use) and class.
_TYPES: dict[str, tuple[str, str]] = {
    "deepseek": ("._providers.http.deepseek", "DeepSeek"),
    "openai_compatible": ("._providers.http.openai_compat", "OpenAICompatible"),
    "llama_cpp_server": ("._providers.http.openai_compat", "LlamaCppServer"),
    "llama_cpp": ("._providers.local.llama_cpp", "LlamaCpp"),
    "transformers": ("._providers.local.hf_transformers", "Transformers"),
}


class Document:
    """One config file being built: its parsed values and the lines they came from."""

    def __init__(self, file: str, text: str, env: Mapping[str, str] | None = None) -> None:
        self.file = file
        self.lines = KeyLines(text)
        self.env = env

    def error(self, path: Path, message: str) -> ConfigFileError:
        return ConfigFileError(
            message, file=self.file, line=self.lines.line(path), field=dotted(path) or None
        )

    def expand(self, value: Any, path: Path = ()) -> Any:
        """``${ENV}`` interpolated in every string, recursively."""
        if isinstance(value, str):
            try:
                return interpolate(value, self.env)
            except MissingVariable as exc:
                raise self.error(path, str(exc)) from None
        if isinstance(value, dict):
            return {k: self.expand(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def table(self, value: object, path: Path) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"must be a table, got {type(value).__name__} {value!r}")
        return value

    def unknown(self, table: Mapping[str, Any], allowed: object, path: Path) -> None:
        known = set(allowed)  # type: ignore[call-overload]
        for key in table:
            if key not in known:
                raise self.error(
                    (*path, key), f"unknown key; expected one of {', '.join(sorted(known))}"
                )

    def policy(self, name: str, value: object, path: Path) -> Any:
        """A policy table as its frozen config (``false`` turns breaker, budget, cache off;
        ``cache = true`` is the default cache)."""
        cls = POLICIES[name]
        if value is False and name in ("breaker", "retry_budget", "cache"):
            return None
        if value is True and name == "cache":
            return Cache()
        table = self.table(value, path)
        self.unknown(table, [f.name for f in fields(cls)], path)
        return self.construct(cls, table, path)

    def construct(self, factory: Callable[..., Any], kwargs: dict[str, Any], path: Path) -> Any:
        """``factory(**kwargs)``; its ``ConfigurationError`` is located at the field it names."""
        try:
            return factory(**kwargs)
        except ConfigurationError as exc:
            text = str(exc)
            for key in sorted(kwargs, key=len, reverse=True):
                if re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", text):
                    raise self.error((*path, key), text) from None
            raise self.error(path, text) from None

    # -- providers

    def providers(self, value: object) -> list[Provider]:
        if not isinstance(value, list):
            raise self.error(("providers",), "must be an array of tables ([[providers]])")
        return [self.provider(entry, ("providers", i)) for i, entry in enumerate(value)]

    def provider(self, value: object, path: Path) -> Provider:
        entry = dict(self.table(value, path))
        kind = entry.pop("type", None)
        if kind is None:
            raise self.error((*path, "type"), "missing: every provider needs a type")
        if kind == "tier":
            return self.tier(entry, path)
        if kind in PRESETS:
            preset = PRESETS[kind]
            entry.setdefault("name", kind)
            entry.setdefault("base_url", preset.base_url)
            entry.setdefault("model", preset.model)
            if "api_key" not in entry:
                key = (self.env if self.env is not None else os.environ).get(preset.key_env)
                if not key:
                    raise self.error(
                        (*path, "type"),
                        f"the {kind} preset takes its api_key from {preset.key_env}, which is "
                        "not set (or set api_key)",
                    )
                entry["api_key"] = key
            kind = "openai_compatible"
        if kind not in _TYPES:
            choices = ", ".join(sorted([*_TYPES, *PRESETS, "tier"]))
            raise self.error((*path, "type"), f"unknown provider type {kind!r}; one of {choices}")
        module, attr = _TYPES[kind]
        cls = getattr(importlib.import_module(module, "deepseek_resilient"), attr)
        for name in _PROVIDER_POLICIES:
            if name in entry:
                entry[name] = self.policy(name, entry[name], (*path, name))
        self.unknown(entry, _parameters(cls), path)
        provider: Provider = self.construct(cls, entry, path)
        return provider

    def tier(self, entry: dict[str, Any], path: Path) -> Provider:
        tier_cls = getattr(importlib.import_module("deepseek_resilient"), "Tier", None)
        if tier_cls is None:
            raise self.error((*path, "type"), "type 'tier' needs a release with Tier")
        members = entry.pop("members", None)
        if not isinstance(members, list) or not members:
            raise self.error((*path, "members"), "a tier needs [[providers.members]] entries")
        built = [self.provider(m, (*path, "members", i)) for i, m in enumerate(members)]
        self.unknown(entry, _parameters(tier_cls), path)
        tier: Provider = self.construct(lambda **kw: tier_cls(built, **kw), entry, path)
        return tier


def _parameters(cls: type[Any]) -> set[str]:
    """The keyword parameters a provider class takes (through ``**options`` to its base)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    names.discard("self")
    names.discard("http_client")  # not expressible in a file
    return names
