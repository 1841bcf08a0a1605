"""Every Python snippet in README.md and docs/*.md works as written, offline and without a key.

Each ```python block runs as a program in a fresh interpreter, with ``DEEPSEEK_API_KEY`` unset
and the network cut (name lookups of anything but loopback fail), so a snippet that would need
DeepSeek falls through to the embedded model, as the README promises. A marker comment on the
line before a block changes that:

* ``<!-- snippet: fragment -->``: a piece of a larger program (``providers=[...]``, a bare
  ``client``): only compiled, as the body of an async function;
* ``<!-- snippet: skip REASON -->``: not checked (a signature written with its types).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"^(?:<!-- snippet: (?P<mark>\w+)(?P<why>[^>]*)-->\n)?```python\n(?P<code>.*?)^```", re.S | re.M
)
#: Run before each snippet: no network but loopback, as on an offline machine.
OFFLINE = """
import socket
_getaddrinfo = socket.getaddrinfo
def _offline(host, *args, **kwargs):
    if host not in ("localhost", "127.0.0.1", "::1", None):
        raise socket.gaierror(socket.EAI_NONAME, "offline: no network in the snippet test")
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _offline
del socket
"""


@dataclass(frozen=True)
class Snippet:
    where: str
    mark: str | None
    why: str
    code: str


def snippets() -> list[Snippet]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start("code"))
            where = f"{path.relative_to(ROOT)}:{line}"
            found.append(Snippet(where, m["mark"], (m["why"] or "").strip(), m["code"]))
    return found


ALL = snippets()


def test_the_docs_have_snippets_and_every_marker_is_known() -> None:
    assert len(ALL) > 20
    assert {s.mark for s in ALL} <= {None, "fragment", "skip"}
    assert all(s.why for s in ALL if s.mark == "skip"), "a skipped snippet says why"
    # The skip list stays short: the two constructor signatures in docs/local-backends.md.
    assert sum(s.mark == "skip" for s in ALL) <= 3


@pytest.mark.parametrize("snippet", [s for s in ALL if s.mark == "fragment"], ids=str)
def test_a_fragment_compiles(snippet: Snippet) -> None:
    # A piece of a function body (``await``, ``yield``, an indented block) compiles inside one.
    body = textwrap.indent(textwrap.dedent(snippet.code), "    ")
    compile(f"async def _fragment():\n{body}\n    pass\n", snippet.where, "exec")


@pytest.mark.local
@pytest.mark.timeout(300)
@pytest.mark.parametrize("snippet", [s for s in ALL if s.mark is None], ids=str)
def test_a_snippet_runs_offline_without_a_key(snippet: Snippet, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the disk cache starts empty
    script = tmp_path / "snippet.py"
    script.write_text(OFFLINE + snippet.code)
    out = subprocess.run(
        [sys.executable, "-W", "ignore::UserWarning", str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, f"{snippet.where} failed:\n{out.stderr[-3000:]}"


def __str__(self: Snippet) -> str:
    return self.where


Snippet.__str__ = __str__  # type: ignore[method-assign]
