"""The OpenAI Batch API line formats: requests in, results out.

In:  ``{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``
Out: ``{"id": "batch_req_...", "custom_id": "a", "response": {"status_code": 200,
"request_id": "...", "body": {...}}, "error": null}``; a failed line has ``"error":
{"code": "<error type>", "message": "..."}`` (and the HTTP status in ``response`` when the
last failure was one).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._core.errors import AllProvidersFailed, APIStatusError, InvalidRequestError
from .._models import ChatCompletion

__all__ = ["BatchLine", "error_record", "read_lines", "success_record", "validate_file"]

_URLS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True)
class BatchLine:
    number: int
    custom_id: str
    body: dict[str, Any]


def _parse(number: int, raw: bytes) -> BatchLine | None:
    text = raw.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"line {number}: must be a JSON object")
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise InvalidRequestError(f"line {number}: custom_id must be a non-empty string")
    if data.get("method", "POST") != "POST":
        raise InvalidRequestError(f"line {number}: method must be POST")
    if data.get("url", _URLS[0]) not in _URLS:
        raise InvalidRequestError(f"line {number}: url must be /v1/chat/completions")
    body = data.get("body")
    if not isinstance(body, dict):
        raise InvalidRequestError(f"line {number}: body must be a JSON object")
    return BatchLine(number, custom_id, body)


def read_lines(path: str | os.PathLike[str]) -> Iterator[BatchLine]:
    """The request lines of ``path``, one at a time (the file is never read whole)."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidRequestError(f"can't read {os.fspath(path)}: {exc.strerror}") from None
    with file:
        for number, raw in enumerate(file, start=1):
            line = _parse(number, raw)
            if line is not None:
                yield line


def validate_file(path: str | os.PathLike[str], done: set[str]) -> tuple[int, int]:
    """Check every line before any request is sent: (lines, of them already in ``done``).
    A malformed line or a repeated ``custom_id`` raises ``InvalidRequestError`` naming it."""
    seen: set[str] = set()
    total = already = 0
    for line in read_lines(path):
        if line.custom_id in seen:
            raise InvalidRequestError(f"line {line.number}: custom_id {line.custom_id!r} repeats")
        seen.add(line.custom_id)
        total += 1
        already += line.custom_id in done
    return total, already


def _record_id() -> str:
    return f"batch_req_{uuid.uuid4().hex}"


def success_record(custom_id: str, completion: ChatCompletion) -> dict[str, Any]:
    body = completion.model_dump(mode="json", exclude_none=True)
    response = {"status_code": 200, "request_id": completion.id, "body": body}
    return {"id": _record_id(), "custom_id": custom_id, "response": response, "error": None}


def error_record(custom_id: str, exc: Exception) -> dict[str, Any]:
    """The failed line: ``error.code`` is the error's type (``AllProvidersFailed``,
    ``BadRequestError``, ...); ``response`` carries the last HTTP status, if any."""
    last = exc.errors[-1] if isinstance(exc, AllProvidersFailed) and exc.errors else exc
    response = None
    if isinstance(last, APIStatusError):
        error_body = {"error": {"message": str(last), "type": type(last).__name__}}
        response = {"status_code": last.status_code, "request_id": None, "body": error_body}
    error = {"code": type(exc).__name__, "message": str(exc)}
    if last is not exc:
        error["last_error"] = type(last).__name__
    return {"id": _record_id(), "custom_id": custom_id, "response": response, "error": error}
