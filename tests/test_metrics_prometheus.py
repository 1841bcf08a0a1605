"""PrometheusMetrics: the exposition after scripted traffic, read with prometheus-client's
parser: names, labels, counts; no key or prompt anywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _support import USER
from _traffic import NEVER_SEEN, run_traffic
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from deepseek_resilient import AsyncClient, CircuitBreaker, ConfigurationError, Retry
from deepseek_resilient.metrics import PrometheusMetrics
from deepseek_resilient.testing import FakeClock, FakeProvider, FaultServer

pytestmark = pytest.mark.anyio

EXPORTED = {
    "gen_ai_client_operation_duration_seconds",
    "gen_ai_client_token_usage",
    "deepseek_resilient_attempts",
    "deepseek_resilient_failovers",
    "deepseek_resilient_breaker_state",
    "deepseek_resilient_cache_lookups",
    "deepseek_resilient_retries",
    "deepseek_resilient_time_to_first_token_seconds",
}


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(
    got: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return got.get((name, frozenset(labels.items())), 0.0)


async def test_exposition_after_scripted_traffic(llm_server: FaultServer, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    await run_traffic(llm_server, tmp_path, [PrometheusMetrics(registry=registry)])
    text = generate_latest(registry).decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families >= EXPORTED
    got = samples(registry)

    attempts = "deepseek_resilient_attempts_total"
    assert value(got, attempts, provider="deepseek", outcome="error") == 4
    assert value(got, attempts, provider="deepseek", outcome="ok") == 2
    assert value(got, attempts, provider="local", outcome="ok") == 1
    assert value(got, "deepseek_resilient_retries_total", provider="deepseek") == 3
    failovers = "deepseek_resilient_failovers_total"
    assert value(got, failovers, from_provider="deepseek", to_provider="local") == 1
    cache = "deepseek_resilient_cache_lookups_total"
    assert (value(got, cache, result="miss"), value(got, cache, result="hit")) == (1, 1)
    assert value(got, "deepseek_resilient_breaker_state", provider="deepseek") == 0
    assert ("deepseek_resilient_breaker_state", frozenset({("provider", "local")})) in got

    duration = "gen_ai_client_operation_duration_seconds_count"
    base = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "deepseek",
            "gen_ai_request_model": "m"}  # fmt: skip
    assert value(got, duration, **base, error_type="") == 2
    assert value(got, duration, **base, error_type="ServiceUnavailableError") == 1
    assert value(got, duration, **base, error_type="InternalServerError") == 3
    bucket = "gen_ai_client_operation_duration_seconds_bucket"
    ok_series = {**base, "error_type": ""}
    les = sorted(
        float(dict(k[1])["le"])
        for k in got
        if k[0] == bucket and {n: v for n, v in k[1] if n != "le"} == ok_series
    )
    assert les[:3] == [0.01, 0.02, 0.04] and les[-2:] == [81.92, float("inf")]

    tokens = "gen_ai_client_token_usage"
    tok = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "deepseek",
           "gen_ai_request_model": "m"}  # fmt: skip
    assert value(got, tokens + "_count", **tok, gen_ai_token_type="input") == 2
    assert value(got, tokens + "_sum", **tok, gen_ai_token_type="input") == 10  # 5 + 5
    assert value(got, tokens + "_sum", **tok, gen_ai_token_type="output") == 2 + 3
    local = {**tok, "gen_ai_provider_name": "local"}
    assert value(got, tokens + "_sum", **local, gen_ai_token_type="output") == 2

    ttft = "deepseek_resilient_time_to_first_token_seconds_count"
    assert value(got, ttft, provider="deepseek") == 1
    assert all(secret not in text for secret in NEVER_SEEN)


async def test_breaker_gauge_follows_the_breaker() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    from deepseek_resilient import InternalServerError

    primary = FakeProvider("p", default=InternalServerError("x", status_code=500))  # type: ignore[arg-type]
    async with AsyncClient(
        [primary, FakeProvider("q")],
        retry=Retry(attempts=1),
        breaker=CircuitBreaker(window=2, min_calls=2, failure_rate=0.5, open_for=5),
        clock=clock,
        hooks=[PrometheusMetrics(registry)],
    ) as client:
        for _ in range(2):
            await client.chat.completions.create(messages=USER)
        assert value(samples(registry), "deepseek_resilient_breaker_state", provider="p") == 2
        clock.advance(5)
        primary.default = "ok"
        await client.chat.completions.create(messages=USER)
    got = samples(registry)
    assert value(got, "deepseek_resilient_breaker_state", provider="p") == 0
    assert value(got, "deepseek_resilient_attempts_total", provider="p", outcome="ok") == 1


def test_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigurationError, match=r"deepseek-resilient\[metrics\]"):
        PrometheusMetrics()


def test_importing_the_metrics_package_imports_no_exporter() -> None:
    import subprocess

    # (pybreaker imports redis when installed, and redis imports parts of opentelemetry:
    # so compare what importing our metrics package adds.)
    code = (
        "import sys, deepseek_resilient; before = set(sys.modules);"
        "import deepseek_resilient.metrics;"
        "print(sorted(m for m in set(sys.modules) - before if not m.startswith('deepseek_')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_model_labels_are_bounded() -> None:
    """Caller-chosen ``model=`` values: 300 distinct names (and 100 KB ones) add no series; the
    providers' configured models and DeepSeek's keep their own label value."""
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry, models=["extra-model"])
    provider = FakeProvider("p", default="ok")  # configured model: "fake"
    async with AsyncClient([provider], hooks=[metrics], clock=FakeClock(), coalesce=False) as c:
        for name in [provider.model, "deepseek-v4-pro", "extra-model"]:
            await c.chat.completions.create(messages=USER, model=name)
        baseline = generate_latest(registry)
        for i in range(300):
            await c.chat.completions.create(messages=USER, model=f"attacker-{i}")
        for i in range(5):
            await c.chat.completions.create(messages=USER, model=f"{i}" + "x" * 100_000)
    text = generate_latest(registry).decode()
    models = {
        s.labels.get("gen_ai_request_model")
        for family in text_string_to_metric_families(text)
        for s in family.samples
    } - {None}
    assert models == {provider.model, "deepseek-v4-pro", "extra-model", "other"}
    assert len(text) < 2 * len(baseline)  # one more value ("other"), whatever the names
    got = samples(registry)
    count = "gen_ai_client_operation_duration_seconds_count"
    labels = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "p", "error_type": ""}
    assert value(got, count, gen_ai_request_model="other", **labels) == 305
