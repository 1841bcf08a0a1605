"""Small helpers shared by the local providers: messages to plain dicts, stop strings, and
the check that a request asks for nothing the backend cannot honour."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from .._core.errors import UnsupportedParameterError
from .._models import ChatRequest

__all__ = [
    "LOCAL_BASE",
    "StopScanner",
    "check_supported",
    "completion_id",
    "now_seconds",
    "plain_messages",
    "stop_list",
]

#: Parameters every local backend honours, or may ignore without changing what the caller
#: can rely on: hints (``reasoning_effort``, ``thinking``, ``prediction``, ``verbosity``),
#: bookkeeping for a remote service (``user``, ``metadata``, ``store``, ``service_tier``,
#: prompt caching) and the HTTP-only ``extra_*`` options.
LOCAL_BASE: frozenset[str] = frozenset(
    {"messages", "model", "stream", "stream_options", "temperature", "top_p", "max_tokens",
     "max_completion_tokens", "stop", "seed", "user", "user_id", "safety_identifier",
     "metadata", "store", "service_tier", "prompt_cache_key", "prompt_cache_options",
     "prompt_cache_retention", "reasoning_effort", "thinking", "verbosity", "prediction",
     "parallel_tool_calls", "tools", "functions", "extra_body", "extra_headers", "extra_query"}
)  # fmt: skip

#: Values that ask for nothing beyond a plain text answer (so any backend honours them).
_PLAIN: dict[str, Callable[[Any], bool]] = {
    "n": lambda v: v == 1,
    "logprobs": lambda v: v is False,
    "modalities": lambda v: list(v) == ["text"],
    "tool_choice": lambda v: v in ("auto", "none"),
    "function_call": lambda v: v in ("auto", "none"),
    "response_format": lambda v: isinstance(v, dict) and v.get("type") == "text",
    "logit_bias": lambda v: not v,
}


def check_supported(
    request: ChatRequest, provider: str, honoured: Collection[str] = LOCAL_BASE
) -> None:
    """Raise ``UnsupportedParameterError`` when ``request`` sets a parameter this backend
    cannot honour (``honoured``: the ones it can), so the caller never gets an answer that
    silently lacks what was asked (``n=2``, ``logprobs``, a forced tool call, audio...)."""
    for name in request.model_fields_set:
        value = getattr(request, name)
        if value is None or name in honoured or _PLAIN.get(name, _never)(value):
            continue
        raise UnsupportedParameterError(
            f"{name}={value!r} is not supported by this local backend; remove it, or put "
            "a provider that supports it ahead of this one in the chain",
            provider=provider,
            parameter=name,
        )


def _never(value: Any) -> bool:
    return False


def plain_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's messages as ``{"role", "content"}`` dicts a chat template understands.

    Content given as a list of parts is flattened to its text parts.
    """
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if isinstance(m.content, list):
            content = "".join(str(p.get("text", "")) for p in m.content if isinstance(p, dict))
        else:
            content = m.content or ""
        item: dict[str, Any] = {"role": m.role, "content": content}
        if m.name:
            item["name"] = m.name
        out.append(item)
    return out


def stop_list(request: ChatRequest) -> list[str]:
    """The request's stop strings as a list (empty strings dropped)."""
    if request.stop is None:
        return []
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    return [s for s in stops if s]


def completion_id() -> str:
    """A fresh OpenAI-style completion id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def now_seconds() -> int:
    """Unix time in whole seconds, for ``created``."""
    return int(time.time())


class StopScanner:
    """Finds stop strings in text that arrives piece by piece.

    ``feed(text_so_far)`` returns the text that is safe to emit now (it cannot turn into the
    start of a stop string) and whether a stop string was found (the text is cut before it).
    """

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._emitted = 0
        self.stopped = False

    def cut(self, text: str) -> tuple[str, bool]:
        """``text`` cut before its first stop string, and whether one was found."""
        best = -1
        for s in self._stops:
            i = text.find(s)
            if i != -1 and (best == -1 or i < best):
                best = i
        return (text, False) if best == -1 else (text[:best], True)

    def feed(self, text: str, *, final: bool = False) -> str:
        """The new text to emit given the whole text so far (``final``: nothing more comes)."""
        if self.stopped:
            return ""
        kept, found = self.cut(text)
        if found:
            self.stopped = True
            safe = len(kept)
        elif final:
            safe = len(kept)
        else:
            safe = len(kept)
            # Hold back a tail that could still grow into a stop string.
            for s in self._stops:
                for k in range(min(len(s) - 1, len(kept)), 0, -1):
                    if kept.endswith(s[:k]):
                        safe = min(safe, len(kept) - k)
                        break
            # Hold back an incomplete multi-byte character.
            while safe > 0 and kept[safe - 1] == "\ufffd":
                safe -= 1
        new = kept[self._emitted : safe] if safe > self._emitted else ""
        self._emitted = max(self._emitted, safe)
        return new
