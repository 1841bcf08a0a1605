"""Cache modes and the request key (also the key that merges identical in-flight calls)."""

from __future__ import annotations

import functools
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
_PLAIN_PERSON = b"dr-plain-key-v1"
"""The plain recipe's BLAKE2b personalisation: its keys never equal a canonical-JSON key."""


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
    """The request's key on ``chain``: 64 hex digits. Also the key that merges identical
    in-flight calls.

    A plain request (text messages, scalar fields: the common case) is keyed by the BLAKE2b of
    the chain's JSON and pydantic's own JSON of the request, which has a fixed field order
    because it holds no mapping a caller built. Any other request is keyed by the SHA-256 of a
    canonical JSON document (sorted keys), so the order of a caller's dict never matters. Both
    leave out the fields that don't change the answer."""
    if request.is_plain_text():
        body = request.__pydantic_serializer__.to_json(
            request, exclude_none=True, exclude=_KEY_EXCLUDE
        )
        digest = hashlib.blake2b(digest_size=32, person=_PLAIN_PERSON)
        digest.update(_chain_json(tuple(chain)))
        digest.update(body)  # the chain's JSON array ends where the body starts
        return digest.hexdigest()
    return _canonical_key(request, chain)


@functools.lru_cache(maxsize=64)
def _chain_json(chain: tuple[str, ...]) -> bytes:
    return json.dumps(list(chain)).encode()


def _canonical_key(request: ChatRequest, chain: Sequence[str]) -> str:
    body = request.model_dump(mode="json", exclude_none=True, exclude=_KEY_EXCLUDE)
    doc = {"v": KEY_VERSION, "request": body, "chain": list(chain)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
