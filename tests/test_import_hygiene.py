"""``import deepseek_resilient`` stays light: optional and heavy dependencies are imported
when the feature that needs them is used, never at import (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deepseek_resilient.testing import FaultServer

#: Imported on first use only: pybreaker imports redis (and redis opentelemetry) when they are
#: installed (it is imported only for a pybreaker listener, the deprecated
#: ``breaker_listeners``); the metrics hooks and local engines are optional extras.
HEAVY = (
    "redis",
    "pybreaker",
    "prometheus_client",
    "opentelemetry",
    "llama_cpp",
    "xllamacpp",
    "torch",
    "transformers",
)

#: Loaded by the feature that needs them, not by ``import deepseek_resilient`` (import time):
#: the disk cache (our store and diskcache) when a cache is first built or opened, the sync
#: client's loop thread when a ``Client`` is built, HTTP-date parsing for such a
#: ``Retry-After``, the openai-python drop-in on ``from deepseek_resilient import OpenAI``,
#: the config-file loader (and its TOML parser) on ``from_config``, the config file's error
#: type on first use of the name, the stats report types on the first ``client.stats()``; the
#: sync ``Client`` and its loop thread, the ``DeepSeek`` preset and ``RedisState`` on first
#: use of the name (a plain ``AsyncClient`` and its first answer use none of them).
DEFERRED = (
    "diskcache",
    "sqlite3",
    "email.utils",
    "anyio.from_thread",
    "queue",
    "deepseek_resilient._dropin.clients",
    "deepseek_resilient._dropin.transport",
    "openai",
    "deepseek_resilient._config_file.load",
    "deepseek_resilient._config_file.locate",
    "deepseek_resilient._client.stats_report",
    "deepseek_resilient._policies.cache.store",
    "deepseek_resilient._policies.cache.files",
    "deepseek_resilient._client.sync_client",
    "deepseek_resilient._client.loop_thread",
    "deepseek_resilient._providers.http.deepseek",
    "deepseek_resilient._state.redis",
)

#: Deferred modules that a plain ``AsyncClient`` and its first answer do not need either.
NOT_FOR_A_FIRST_ANSWER = (
    "deepseek_resilient._client.sync_client",
    "deepseek_resilient._client.loop_thread",
    "deepseek_resilient._providers.http.deepseek",
    "deepseek_resilient._state.redis",
)


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120
    )
    return set(json.loads(out.stdout))


def _loaded_after(code: str) -> set[str]:
    return {m.split(".")[0] for m in _modules_after(code)}


def test_import_does_not_load_heavy_dependencies() -> None:
    loaded = _loaded_after("import deepseek_resilient")
    assert "deepseek_resilient" in loaded
    assert not loaded & set(HEAVY), f"imported at import time: {sorted(loaded & set(HEAVY))}"


def test_a_client_and_its_first_answer_load_no_heavy_dependency(llm_server: FaultServer) -> None:
    # Building a client builds its breakers: their state holder is ours, so pybreaker (which
    # imports redis, and redis OpenTelemetry, when installed) stays out until a pybreaker
    # listener is passed. What import defers by name (the sync client, the DeepSeek preset,
    # RedisState) stays out too: deferring them moved no cost to the first answer. (The
    # server runs here: the test kit itself imports the sync client.)
    modules = _modules_after(
        "import anyio, deepseek_resilient as d\n"
        f"URL = {llm_server.base_url!r}\n"
        "async def main():\n"
        "    p = d.OpenAICompatible(name='p', base_url=URL, model='m', api_key='k')\n"
        "    async with d.AsyncClient([p, d.OpenAICompatible(name='q', base_url=URL, "
        "model='m', api_key='k')]) as c:\n"
        "        r = await c.chat.completions.create(messages=[{'role': 'user', "
        "'content': 'x'}])\n"
        "        assert r.choices[0].message.content\n"
        "anyio.run(main)"
    )
    loaded = {m.split(".")[0] for m in modules}
    assert "httpx2" in loaded
    assert not loaded & set(HEAVY), f"imported by a first answer: {sorted(loaded & set(HEAVY))}"
    unused = modules & set(NOT_FOR_A_FIRST_ANSWER)
    assert not unused, f"imported by a first answer: {sorted(unused)}"


def test_the_check_sees_a_heavy_import() -> None:
    # The same probe notices pybreaker once a breaker gets a pybreaker listener (so the tests
    # above can fail).
    loaded = _loaded_after(
        "import deepseek_resilient as d; from deepseek_resilient._policies.breaker import "
        "ProviderBreaker; from deepseek_resilient.testing import FakeClock\n"
        "class Listener:\n"
        "    def state_change(self, cb, old, new): pass\n"
        "ProviderBreaker('p', d.CircuitBreaker(), FakeClock(), [Listener()])"
    )
    assert "pybreaker" in loaded


def test_import_leaves_asyncio_to_the_event_loop() -> None:
    # asyncio (about 20 ms, 47 modules) is imported by whoever runs its loop; a module that
    # imports it to check for a running loop pays that on every import.
    assert "asyncio" not in _loaded_after("import deepseek_resilient")


def test_import_defers_what_only_a_feature_needs() -> None:
    loaded = _modules_after("import deepseek_resilient")
    assert "deepseek_resilient._client.async_client" in loaded
    assert not loaded & set(DEFERRED), f"imported at import time: {sorted(loaded & set(DEFERRED))}"


def test_each_deferred_module_loads_with_its_feature(tmp_path: Path) -> None:
    # The same probe sees every DEFERRED module once its feature is used (so the test above
    # can fail), and the lazy names still import.
    loaded = _modules_after(
        "import deepseek_resilient as d; "
        "assert set(d.__all__) <= set(dir(d)); "  # lazy names are listed before they load
        "from deepseek_resilient import OpenAI, AsyncOpenAI, ResilientTransport, route_of; "
        "from deepseek_resilient._providers.http.errors import parse_retry_after; "
        "assert parse_retry_after({'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT'}) == 0.0; "
        f"d.ResponseCache(d.Cache(directory={str(tmp_path)!r})).stats(); "
        "c = d.Client(providers=[d.OpenAICompatible(name='x', base_url='http://127.0.0.1:9', "
        "model='m', api_key='k')]); c.stats(); c.close(); "
        "assert issubclass(d.ConfigFileError, d.ConfigurationError); "
        "assert d.DeepSeek(api_key='k').name and issubclass(d.RetiredModelWarning, Warning); "
        "assert d.RedisState().__class__.__name__ == 'RedisState'; "
        "from deepseek_resilient._config_file import load_config"
    )
    assert set(DEFERRED) <= loaded, f"not loaded by their feature: {sorted(set(DEFERRED) - loaded)}"


def test_no_model_field_defaults_to_a_builtin_factory() -> None:
    # pydantic reads a default_factory's signature; for a builtin (list, dict) that parses
    # its text signature with tokenize, whose first use compiles tokenize's regular
    # expressions (about 14 M instructions, at import and again for the first answer).
    import pydantic

    import deepseek_resilient._models as models

    kinds = [k for k in vars(models).values() if isinstance(k, type)]
    built = [k for k in kinds if issubclass(k, pydantic.BaseModel)]
    assert len(built) > 25
    for kind in built:
        for name, field in kind.model_fields.items():
            factory = field.default_factory
            assert not isinstance(factory, type) or issubclass(factory, pydantic.BaseModel), (
                kind,
                name,
            )
    route = models.Route()
    assert route.attempts == [] and route.attempts is not models.Route().attempts
    chunk = models.ChatCompletionChunk.model_construct(id="x")
    assert chunk.choices == [] and chunk.choices is not models.ChatCompletionChunk(id="y").choices
    moderation = models.ModerationResult()
    assert (
        moderation.categories == {}
        and moderation.categories is not models.ModerationResult().categories
    )


def test_import_compiles_no_tokenize_pattern() -> None:
    # The same cost, seen from outside: nothing at import parses a builtin's signature.
    out = subprocess.run(
        [sys.executable, "-c", "import deepseek_resilient, tokenize\n"
         "print(tokenize._compile.cache_info().currsize)"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.stdout.strip() == "0"
