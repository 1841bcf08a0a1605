"""openai-python's "not passed" placeholders (``openai.NOT_GIVEN``, ``openai.omit`` /
``openai.Omit()``, ``openai._types.NotGiven``) read as "argument not passed", as openai does.

Code written for openai (and frameworks such as openai-agents or pydantic-ai) passes them for
every argument it leaves unset. They are recognised by their type's name and module, so
openai is never imported here: a placeholder can only exist once openai has been imported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from typing_extensions import ParamSpec

__all__ = ["accepts_omitted", "drop_omitted", "is_omitted"]

P = ParamSpec("P")
R = TypeVar("R")

#: openai's placeholder types: ``NotGiven`` (``NOT_GIVEN``, ``not_given``) and ``Omit``.
_NAMES = frozenset({"NotGiven", "Omit"})
#: Types seen already: placeholders, and plain ones (str, float, list...: one set lookup).
_KNOWN: set[type] = set()
_PLAIN: set[type] = set()


def is_omitted(value: object) -> bool:
    """True for openai's ``NOT_GIVEN`` / ``omit`` (any openai version), without openai."""
    kind = type(value)
    if kind in _PLAIN:
        return False
    if kind in _KNOWN:
        return True
    if kind.__name__ in _NAMES and kind.__module__.partition(".")[0] == "openai":
        _KNOWN.add(kind)
        return True
    if len(_PLAIN) < 256:  # bounded: a program passes a handful of types
        _PLAIN.add(kind)
    return False


def drop_omitted(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without the placeholders; in the ``extra_*`` dicts too (openai's
    ``extra_headers={"x": omit}`` removes a header: here it is simply not sent). ``params``
    itself when there is nothing to drop (the usual case: no copy)."""
    plain = _PLAIN
    for key, value in params.items():
        if type(value) in plain and not key.startswith("extra_"):
            continue  # the usual case, kept to one set lookup
        if is_omitted(value) or (key.startswith("extra_") and isinstance(value, dict)):
            break
    else:
        return params
    out: dict[str, Any] = {}
    for key, value in params.items():
        if is_omitted(value):
            continue
        if key.startswith("extra_") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if not is_omitted(v)}
        out[key] = value
    return out


def accepts_omitted(func: Callable[P, R]) -> Callable[P, R]:
    """Wraps a constructor or method: keyword arguments given as a placeholder are left out,
    so the parameter's default applies."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs and any(is_omitted(v) for v in kwargs.values()):
            kwargs = {k: v for k, v in kwargs.items() if not is_omitted(v)}  # type: ignore[assignment]
        return func(*args, **kwargs)

    return wrapper
