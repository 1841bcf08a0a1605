"""``LazyModule``: the module is imported on the first attribute read, and each attribute
read is kept, so the next read of it is an ordinary lookup (no ``__getattr__`` call)."""

from __future__ import annotations

import json
import sys

import pytest

from deepseek_resilient._core.lazy import LazyModule


def test_the_module_is_imported_on_first_read() -> None:
    sys.modules.pop("this", None)  # a module nothing imports otherwise
    lazy = LazyModule("this")
    assert "this" not in sys.modules
    assert isinstance(lazy.s, str)
    assert "this" in sys.modules


def test_each_attribute_is_read_through_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lazy = LazyModule("json")
    assert lazy.dumps is json.dumps
    asked: list[str] = []
    real = LazyModule.__getattr__

    def counting(self: LazyModule, attr: str) -> object:
        asked.append(attr)
        return real(self, attr)

    monkeypatch.setattr(LazyModule, "__getattr__", counting)
    for _ in range(3):
        assert lazy.dumps is json.dumps
        assert lazy.loads is json.loads
    assert asked == ["loads"]
    with pytest.raises(AttributeError):
        lazy.no_such_name
