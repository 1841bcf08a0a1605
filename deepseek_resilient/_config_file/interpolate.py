"""``${NAME}`` in a config string is the environment variable NAME (``${NAME:-default}``
when it may be unset); ``$${`` is a literal ``${``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["MissingVariable", "interpolate"]

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}?")


class MissingVariable(ValueError):
    """A ``${NAME}`` whose variable is not set (and has no default), or a malformed one."""


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    environ = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            raise MissingVariable(f"malformed variable reference {match.group(0)!r}")
        found = environ.get(name)
        if found is not None:
            return found
        if default is not None:
            return default
        raise MissingVariable(f"environment variable {name} is not set")

    return _VAR.sub(replace, value)
