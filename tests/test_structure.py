"""The package's shape: no import cycle between its modules, and small modules.

Imports are read from the source with ``ast`` (nothing is imported), so a cycle is caught even
when it is hidden inside a function. Imports under ``if TYPE_CHECKING:`` are left out: they
never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "deepseek_resilient"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
#: Lines above which a module must say at its top why it is that long.
MAX_LINES = 350


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports (at any depth, TYPE_CHECKING blocks excluded)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def resolve(target: str) -> None:
        # ``from .x import y`` may name a module ``x.y`` or a name in ``x``: keep the longest
        # prefix that is a module of the package.
        parts = target.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in modules:
                if candidate != name:
                    found.add(candidate)
                return

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for alias in node.names:
                resolve(f"{stem}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_the_graph_sees_relative_and_absolute_imports() -> None:
    graph = import_graph()
    assert "deepseek_resilient._models" in graph["deepseek_resilient._providers.base"]
    defaults = graph["deepseek_resilient._client.defaults"]
    assert "deepseek_resilient._providers.local.llama_cpp" in defaults


def test_find_cycle_reports_a_cycle_and_passes_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    # The package's __init__ imports the modules it re-exports; a module importing the
    # package root back would be a cycle too (it is in the graph like any other module).
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


#: Long modules another change of issue 14 is splitting (its layers move into their policy
#: modules; the fault server splits into rules, socket helpers and the server). Remove an entry
#: when its module is split; a module not listed needs a ``Long module:`` line at its top.
PENDING_SPLIT: set[str] = set()


def test_long_modules_say_why() -> None:
    unexplained = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT).as_posix()
        n = text.count("\n")
        if n > MAX_LINES and rel not in PENDING_SPLIT and "Long module:" not in text[:3000]:
            unexplained.append(f"{rel} ({n} lines)")
    assert not unexplained, f"over {MAX_LINES} lines with no reason at the top: {unexplained}"


#: The public API (``deepseek_resilient.__all__``): a change to it is a change to this list.
PUBLIC_NAMES = frozenset(
    {
        "APIConnectionError",
        "APIStatusError",
        "APITimeoutError",
        "AllProvidersFailed",
        "Annotation",
        "AnnotationURLCitation",
        "AsyncClient",
        "AsyncOpenAI",
        "AsyncStream",
        "Attempt",
        "AuthenticationError",
        "BadRequestError",
        "BatchProgress",
        "BatchSummary",
        "BreakerHealth",
        "Cache",
        "CacheStats",
        "CallOptions",
        "ChatCompletion",
        "ChatCompletionAudio",
        "ChatCompletionChunk",
        "ChatCompletionMessage",
        "ChatCompletionMessageToolCall",
        "ChatMessage",
        "ChatRequest",
        "Choice",
        "ChoiceDelta",
        "ChoiceDeltaAudio",
        "ChoiceDeltaToolCall",
        "ChoiceDeltaToolCallFunction",
        "ChoiceLogprobs",
        "ChunkChoice",
        "CircuitBreaker",
        "CircuitOpenError",
        "Client",
        "ClientOptions",
        "ClientStats",
        "Clock",
        "CompletionTokensDetails",
        "ConfigFileError",
        "ConfigurationError",
        "ContextLengthExceededError",
        "CreateParams",
        "CustomToolCall",
        "DeadlineExceeded",
        "DeepSeek",
        "DeepSeekResilientError",
        "FirstTokenTimeoutError",
        "Function",
        "Hedge",
        "IncompleteStreamError",
        "InsufficientBalanceError",
        "InternalServerError",
        "InvalidRequestError",
        "InvalidResponseError",
        "JobQueue",
        "JobQueueError",
        "JobResult",
        "LlamaCpp",
        "LlamaCppPythonServer",
        "LlamaCppServer",
        "LocalModelError",
        "MissingAPIKeyWarning",
        "Model",
        "ModelList",
        "Moderation",
        "ModerationResult",
        "ModerationResults",
        "NotFoundError",
        "OpenAI",
        "OpenAICompatible",
        "ResilientTransport",
        "AsyncResilientTransport",
        "HttpxResilientTransport",
        "AsyncHttpxResilientTransport",
        "route_of",
        "PermissionDeniedError",
        "PromptTokensDetails",
        "Provider",
        "ProviderError",
        "ProviderStats",
        "RateLimit",
        "RateLimitError",
        "RateLimitedLocally",
        "Recovery",
        "RedisState",
        "ResponseCache",
        "RetiredModelWarning",
        "Retry",
        "RetryBudget",
        "Route",
        "ServiceUnavailableError",
        "Stream",
        "StreamFailure",
        "Tier",
        "TokenLogprob",
        "TopLogprob",
        "Transformers",
        "UnprocessableEntityError",
        "UnsupportedParameterError",
        "Usage",
        "__version__",
        "accumulate",
        "batch",
        "events",
    }
)
#: The public modules; every other module of the package is private (its name, or a
#: package above it, starts with ``_``).
PUBLIC_MODULES = {
    "deepseek_resilient",
    "deepseek_resilient.cli",
    "deepseek_resilient.events",
    "deepseek_resilient.metrics",
    "deepseek_resilient.testing",
    "deepseek_resilient.testing.plugin",
}


def test_the_public_api_is_pinned() -> None:
    import deepseek_resilient

    assert set(deepseek_resilient.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(deepseek_resilient, name) is not None, name


def test_the_public_modules_are_pinned() -> None:
    public = {m for m in import_graph() if not any(p.startswith("_") for p in m.split("."))}
    assert public == PUBLIC_MODULES


def test_the_root_holds_only_the_public_face() -> None:
    root = {p.name for p in ROOT.iterdir() if p.name != "__pycache__"}
    private_modules = {n for n in root if n.startswith("_") and n.endswith(".py")}
    assert private_modules == {"__init__.py"}, sorted(private_modules)


def _documented_tree() -> set[str]:
    """The file paths in docs/architecture.md's package tree (relative to the package)."""
    text = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("```text\ndeepseek_resilient/\n", 1)[1].split("```", 1)[0]
    paths: set[str] = set()
    stack: list[str] = []
    for line in block.splitlines():
        name = line.strip().split()[0]
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        del stack[depth:]
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
        else:
            paths.add("/".join([*stack, name]))
    return paths


def test_the_architecture_doc_lists_every_module() -> None:
    actual = {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.suffix == ".py" or p.name == "py.typed"
    }
    documented = _documented_tree()
    assert sorted(actual - documented) == [], "modules missing from docs/architecture.md"
    assert sorted(documented - actual) == [], "docs/architecture.md lists modules that are gone"
