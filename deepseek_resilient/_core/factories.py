"""The ``default_factory`` of the models' empty list and dict fields (``Route.attempts``,
``ChatCompletionChunk.choices``, ``ModerationResult.categories``...).

Plain functions, not the builtins ``list`` and ``dict``: pydantic reads each factory's
signature (does it take the validated data?), and for a builtin ``inspect.signature`` parses
its text signature with ``tokenize``, whose first use compiles that module's regular
expressions (about 14 M instructions). That first use happened at ``import
deepseek_resilient`` (the stream's sentinel chunks are built at import) and again while the
first answer's models were built."""

from typing import Any

__all__ = ["empty_dict", "empty_list"]


def empty_list() -> list[Any]:
    """A new empty list (``default_factory=list``)."""
    return []


def empty_dict() -> dict[str, Any]:
    """A new empty dict (``default_factory=dict``)."""
    return {}
