"""What keeps the per-request path cheap, pinned where a behaviour test cannot see it
(``benchmarks/hot_path.md`` measures each of these)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deepseek_resilient._core.events import TokenUsage
from deepseek_resilient._core.frozen import fill

PACKAGE = Path(__file__).resolve().parents[1] / "deepseek_resilient"
#: The modules every request runs through.
HOT = ["_core", "_client", "_policies/send.py", "_policies/retry.py", "_policies/breaker.py",
       "_policies/budget.py", "_streaming", "_providers/http", "_models/response.py"]  # fmt: skip


def _hot_modules() -> list[Path]:
    found: list[Path] = []
    for name in HOT:
        path = PACKAGE / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def _bytes_needles(tree: ast.AST) -> list[int]:
    """Lines of ``b"..." in x`` / ``not in``: with a ``bytes`` needle, CPython's ``in`` on
    bytes first tries the needle as an int, raising and clearing a ``TypeError`` (about
    2,000 machine instructions, several times a request when it sat in the SSE reader)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            needle = node.left.value if isinstance(node.left, ast.Constant) else None
            if isinstance(needle, bytes) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
                lines.append(node.lineno)
    return lines


def test_the_hot_path_searches_bytes_for_an_int_not_for_bytes() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in _hot_modules()
        if (lines := _bytes_needles(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}, "write `ord(...) in data` (an int needle) instead of `b'.' in data`"


def test_the_scan_finds_a_bytes_needle() -> None:
    assert _bytes_needles(ast.parse('x = b"\\r" not in raw\ny = 13 in raw')) == [1]


def test_fill_refuses_a_wrong_number_of_values() -> None:
    usage = TokenUsage.__new__(TokenUsage)
    fill(usage, 1, 2, 3)
    assert (usage.input, usage.output, usage.cache_hit) == (1, 2, 3)
    with pytest.raises(TypeError, match="TokenUsage takes 3 values, got 2"):
        fill(TokenUsage.__new__(TokenUsage), 1, 2)
    with pytest.raises(TypeError):
        fill(TokenUsage.__new__(TokenUsage), 1, 2, 3, 4)


def test_a_provider_shares_its_timeout_only_between_calls_with_the_same_limits() -> None:
    from deepseek_resilient import OpenAICompatible

    p = OpenAICompatible(name="p", base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-x")
    first = p._timeout(10.0)
    assert p._timeout(10.0) is first  # kept: no new object per call
    other = p._timeout(5.0)
    assert (other.connect, other.read, other.write, other.pool) == (5.0, 5.0, 5.0, 5.0)
    p.connect_timeout = 1.0
    assert (p._timeout(5.0).connect, p._timeout(5.0).read) == (1.0, 5.0)
    p.read_timeout = 2.0
    assert (p._timeout(5.0).read, p._timeout(5.0).pool) == (2.0, 2.0)
    assert (first.connect, first.read) == (10.0, 10.0)  # an earlier one is never changed


def test_fill_serves_a_plain_subclass_of_an_event() -> None:
    from deepseek_resilient._core.events import Coalesced

    class Mine(Coalesced):  # no slots of its own: the parent's setters serve
        pass

    assert Mine(7).request_id == 7
    assert TokenUsage(1, 2, 3) == TokenUsage(1, 2, 3)
