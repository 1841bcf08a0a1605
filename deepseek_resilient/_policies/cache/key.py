"""Cache modes and the request key (also the key that merges identical in-flight calls)."""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Sequence
from itertools import chain as chain_from
from typing import Literal

from ..._models import ChatRequest
from ..._models.request import _PLAIN_FIELDS

__all__ = ["KEY_VERSION", "CacheMode", "is_cacheable", "mode_reads", "mode_writes", "request_key"]

CacheMode = Literal["use", "refresh", "bypass", "no-store"]
"""Per call. ``use``: read and write; ``refresh``: skip the read, write; ``bypass``: neither;
``no-store``: read, never write."""

KEY_VERSION = 1
"""Bump to orphan every old key when the key recipe changes."""
_KEY_EXCLUDE = {"stream", "stream_options", "user"}
"""Request fields that do not change the answer, so they stay out of the key."""
_PLAIN_PERSON = b"dr-plain-key-v2"
"""The plain recipe's BLAKE2b personalisation: its keys never equal a canonical-JSON key.
(v1 hashed pydantic's JSON of the request: about 49 k instructions a key, against 39 k.)"""
_SCALARS = operator.attrgetter(*sorted(_PLAIN_FIELDS - _KEY_EXCLUDE - {"messages"}))
"""A plain request's scalar fields that the key holds, in a fixed order (None: not sent)."""
_TEXT = operator.attrgetter("role", "content")


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
    the ``repr`` of one flat tuple: the chain's length and names, the number of messages and
    each one's role and text, then the scalar fields in a fixed order. Its values (validated:
    exactly str, int, float, bool or None) have a ``repr`` that tells apart exactly the values
    their JSON tells apart (``0`` / ``0.0`` / ``False``, escapes included); None stands for a
    field not sent, as JSON leaves it out. Any other request is keyed by the
    SHA-256 of a canonical JSON document (sorted keys), so the order of a caller's dict never
    matters. Both leave out the fields that don't change the answer."""
    if request.is_plain_text():
        messages = request.messages
        doc = (
            len(chain), *chain, len(messages), *chain_from(map(_TEXT, messages)),
            *_SCALARS(request),
        )  # fmt: skip
        text = repr(doc).encode("utf-8", "surrogatepass")  # flat: a third of a nested repr
        return hashlib.blake2b(text, digest_size=32, person=_PLAIN_PERSON).hexdigest()
    return _canonical_key(request, chain)


def _canonical_key(request: ChatRequest, chain: Sequence[str]) -> str:
    body = request.model_dump(mode="json", exclude_none=True, exclude=_KEY_EXCLUDE)
    doc = {"v": KEY_VERSION, "request": body, "chain": list(chain)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
