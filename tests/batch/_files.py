"""Helpers for the batch tests: request files and reading results back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def request_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    payload = {"messages": [{"role": "user", "content": text}], **body}
    url = "/v1/chat/completions"
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": payload}


def write_requests(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def numbered(path: Path, n: int) -> Path:
    return write_requests(path, [request_line(f"req-{i}", f"question {i}") for i in range(n)])


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def id_counts(path: Path) -> Counter[str]:
    return Counter(r["custom_id"] for r in results(path))
