"""Where a key of a TOML file is written: its line, so an error can name the line and the
field. ``tomllib`` gives values without positions; this scanner walks the lines, follows the
``[table]`` / ``[[array]]`` headers and records the line of each ``key = ...``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .._core.errors import ConfigurationError

__all__ = ["ConfigFileError", "KeyLines", "Path", "dotted"]

#: A field's address in the parsed document: ``("providers", 1, "rate_limit", "burst")``.
Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=""")


def dotted(path: Sequence[str | int]) -> str:
    """``providers[1].rate_limit.burst``"""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class ConfigFileError(ConfigurationError):
    """A config file that can't be used: ``.file``, ``.line`` (1-based, None when unknown)
    and ``.field`` (``providers[0].rate_limit.requests_per_second``) say where."""

    def __init__(self, message: str, *, file: str, line: int | None, field: str | None) -> None:
        where = file if line is None else f"{file}:{line}"
        text = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        super().__init__(text)
        self.file = file
        self.line = line
        self.field = field


def _split_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


class KeyLines:
    """The line of every key and table header of one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        current: Path = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if line.count('"""') % 2 or line.count("'''") % 2:
                in_multiline = not in_multiline
                if not in_multiline:
                    continue
            if in_multiline:
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                names = _split_key(header.group(2))
                current = self._resolve(names, counts, array=header.group(1) == "[[")
                self._lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                path = (*current, *_split_key(key.group(1)))
                self._lines.setdefault(path, number)

    def _resolve(self, names: list[str], counts: dict[tuple[str, ...], int], array: bool) -> Path:
        """The indexed path of a header: ``[providers.rate_limit]`` after the second
        ``[[providers]]`` is ``("providers", 1, "rate_limit")``."""
        path: list[str | int] = []
        for i, name in enumerate(names):
            path.append(name)
            key = tuple(names[: i + 1])
            last = i == len(names) - 1
            if last and array:
                counts[key] = counts.get(key, -1) + 1
                for deeper in [k for k in counts if len(k) > len(key) and k[: len(key)] == key]:
                    del counts[deeper]  # a new array element starts its sub-arrays afresh
            if key in counts:
                path.append(counts[key])
        return tuple(path)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, else of its nearest written parent (an inline table)."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None
