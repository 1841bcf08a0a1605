"""Cache modes and the request key (also the key that merges identical in-flight calls)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal

from ..._models import ChatRequest

__all__ = ["KEY_VERSION", "CacheMode", "is_cacheable", "mode_reads", "mode_writes", "request_key"]

CacheMode = Literal["use", "refresh", "bypass", "no-store"]
"""Per call. ``use``: read and write; ``refresh``: skip the read, write; ``bypass``: neither;
``no-store``: read, never write."""

KEY_VERSION = 1
"""Bump to orphan every old key when the key recipe changes."""
_KEY_EXCLUDE = {"stream", "stream_options", "user"}
"""Request fields that do not change the answer, so they stay out of the key."""


def mode_reads(mode: CacheMode) -> bool:
    """Whether a call in this mode may answer from the cache."""
    return mode in ("use", "no-store")


def mode_writes(mode: CacheMode) -> bool:
    """Whether a call in this mode stores its answer."""
    return mode in ("use", "refresh")


def is_cacheable(request: ChatRequest) -> bool:
    """A request is cached by default only when it is deterministic (temperature 0 or seed)."""
    return request.deterministic


def request_key(request: ChatRequest, chain: Sequence[str]) -> str:
    """SHA-256 hex of the canonical JSON of the request (without the fields that don't change
    the answer) and the provider chain. Also the key that merges identical in-flight calls."""
    body = request.model_dump(mode="json", exclude_none=True, exclude=_KEY_EXCLUDE)
    doc = {"v": KEY_VERSION, "request": body, "chain": list(chain)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
