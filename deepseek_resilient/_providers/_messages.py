"""Small helpers shared by the local providers: messages to plain dicts, stop strings."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .._types import ChatRequest

__all__ = ["StopScanner", "completion_id", "now_seconds", "plain_messages", "stop_list"]


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
