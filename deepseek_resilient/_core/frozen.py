"""Frozen dataclasses that ``@dataclass`` compiles nothing for: the events and the configs.

``@dataclass(frozen=True)`` writes each generated method (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``) as source and compiles it with
``exec``, per class: about 0.45 M instructions a method, some 60 methods for the events and
the configs at ``import deepseek_resilient``. Here ``Frozen`` holds those methods once (by
field, as a frozen dataclass's behave), each class writes its ``__init__`` out (with
``fill``), and ``frozen``/``frozen_dict`` declare the class a dataclass that compiles nothing.

The class is declared unfrozen to ``dataclass`` (a frozen one would compile its
``__setattr__``/``__delattr__``), so ``mark_frozen`` records it frozen afterwards, once no
subclass is left to declare (``dataclass`` refuses an unfrozen subclass of a frozen one).
``dataclasses.fields``, ``replace``, ``is_dataclass`` and ``FrozenInstanceError`` work as on
any frozen dataclass; so do pickling and ``copy``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, fields
from itertools import repeat
from typing import Any, TypeVar

from typing_extensions import dataclass_transform

__all__ = ["Frozen", "fill", "fill_fields", "frozen", "frozen_dict", "mark_frozen"]

_C = TypeVar("_C", bound=type)


class Frozen:
    """What a frozen dataclass generates, once for all its subclasses: ``repr``, ``==`` and
    ``hash`` by field, ``FrozenInstanceError`` on assignment and deletion, pickling."""

    __slots__ = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        names = (f.name for f in fields(self))  # type: ignore[arg-type]
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{type(self).__qualname__}({args})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> list[object]:
        return list(self._values())

    def __setstate__(self, state: list[object]) -> None:
        for f, value in zip(fields(self), state, strict=True):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, value)


def fill(record: Frozen, *values: object) -> None:
    """Set the fields of ``record`` (of a ``frozen`` class: its ``__slots__`` are its fields,
    in order) from ``values``, in a written-out ``__init__``."""
    cls = type(record)
    setters = _SETTERS.get(cls) or _setters(cls)
    if len(values) != len(setters):
        raise TypeError(f"{cls.__name__} takes {len(setters)} values, got {len(values)}")
    # One C loop (``any`` of ``None``s runs ``map`` to its end) of the slots' own setters:
    # ``object.__setattr__`` on a class with its own ``__setattr__`` walks the class's MRO
    # first, on every call. Events are built on every request.
    any(map(_call, setters, repeat(record), values))


#: Per ``frozen`` class, its slots' ``__set__``, in field order.
_SETTERS: dict[type, tuple[Callable[[object, object], None], ...]] = {}


def _setters(cls: type) -> tuple[Callable[[object, object], None], ...]:
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    setters = _SETTERS[cls] = tuple(getattr(cls, name).__set__ for name in names)
    return setters


if sys.version_info >= (3, 11):
    from operator import call as _call
else:  # pragma: no cover - Python 3.10

    def _call(setter: Callable[[object, object], None], record: object, value: object) -> None:
        setter(record, value)


def fill_fields(record: Frozen, *values: object) -> None:
    """``fill`` for a ``frozen_dict`` class (no ``__slots__``: its fields, in order)."""
    for f, value in zip(fields(record), values, strict=True):  # type: ignore[arg-type]
        object.__setattr__(record, f.name, value)


@dataclass_transform(frozen_default=True)
def frozen(cls: _C) -> _C:
    """``@dataclass(frozen=True, slots=True, init=False, repr=False, eq=False)`` on a
    subclass of ``Frozen`` that writes its ``__init__`` out; call ``mark_frozen`` on it once
    its subclasses are declared."""
    return dataclass(slots=True, init=False, repr=False, eq=False)(cls)  # type: ignore[return-value]


@dataclass_transform(frozen_default=True)
def frozen_dict(cls: _C) -> _C:
    """``frozen`` without slots: ``@dataclass(frozen=True, init=False, repr=False, eq=False)``."""
    return dataclass(init=False, repr=False, eq=False)(cls)  # type: ignore[return-value]


@dataclass(frozen=True, init=False, repr=False, eq=False)
class _FrozenParams:
    """Only its ``__dataclass_params__``: ``frozen=True, init=False, repr=False, eq=False``."""


def mark_frozen(*classes: type[Any]) -> None:
    """Record each class frozen (its ``__dataclass_params__``), as ``Frozen`` makes it behave."""
    for cls in classes:
        cls.__dataclass_params__ = _FrozenParams.__dataclass_params__  # type: ignore[attr-defined]
