"""A module imported on first attribute access, to keep optional heavy imports off
``import deepseek_resilient`` (pybreaker imports redis, and redis opentelemetry, when installed)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["LazyModule", "running_asyncio_loop"]


def running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None (trio, or no loop), without importing asyncio: no
    asyncio loop can run before it is imported, and importing it costs about 20 ms."""
    loaded = sys.modules.get("asyncio")
    try:
        return None if loaded is None else loaded.get_running_loop()
    except RuntimeError:
        return None


class LazyModule:
    """Stands for the module ``name``; the first attribute read imports it. Each attribute
    read is kept: the next read of it is an ordinary attribute lookup (``__getattr__`` costs
    a Python call and an ``AttributeError`` built and dropped, on a hot path several times a
    request). So a module attribute rebound after its first read is not seen (a class's own
    attributes are, patched or not)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        value = getattr(module, attr)
        self.__dict__[attr] = value
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
