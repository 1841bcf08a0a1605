"""examples/monitoring: the alert rules and the Grafana dashboard reference only series that
PrometheusMetrics exports (and promtool accepts the rules, where it is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from deepseek_resilient.metrics import PrometheusMetrics

MONITORING = Path(__file__).resolve().parents[1] / "examples" / "monitoring"
SERIES = re.compile(r"\b((?:gen_ai|deepseek_resilient)_[a-z0-9_]+)")
LABELS = re.compile(r"\{[^}]*\}|\b(?:by|without|on|ignoring)\s*\([^)]*\)")
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",), "gauge": ("",)}


def series(expr: str) -> set[str]:
    """The series names a PromQL expression selects (label matchers and groupings removed)."""
    return set(SERIES.findall(LABELS.sub(" ", expr)))


def exported() -> set[str]:
    """Every series name PrometheusMetrics registers, as PromQL sees them."""
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


def test_series_finds_names_not_labels() -> None:
    expr = 'sum by (gen_ai_provider_name) (rate(deepseek_resilient_x_total{gen_ai_token_type="a"}[5m]))'  # noqa: E501
    assert series(expr) == {"deepseek_resilient_x_total"}


def test_exported_series_are_the_documented_ones() -> None:
    assert exported() >= {
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage_sum",
        "deepseek_resilient_attempts_total",
        "deepseek_resilient_failovers_total",
        "deepseek_resilient_breaker_state",
        "deepseek_resilient_cache_lookups_total",
        "deepseek_resilient_retries_total",
        "deepseek_resilient_time_to_first_token_seconds_bucket",
    }


def test_alert_rules_use_only_exported_series() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {
        "DeepSeekResilientLatencyP99High",
        "DeepSeekResilientErrorRateHigh",
        "DeepSeekResilientFallbackAnswering",
        "DeepSeekResilientBreakerOpen",
    } <= set(alerts)
    names = exported()
    for name, rule in alerts.items():
        used = series(rule["expr"])
        assert used, name
        assert used <= names, f"{name} uses {used - names}"
    assert "> 0.5" in alerts["DeepSeekResilientLatencyP99High"]["expr"]
    assert alerts["DeepSeekResilientLatencyP99High"]["for"] == "5m"
    assert "> 0.05" in alerts["DeepSeekResilientErrorRateHigh"]["expr"]
    assert "> 0.2" in alerts["DeepSeekResilientFallbackAnswering"]["expr"]
    assert alerts["DeepSeekResilientBreakerOpen"]["for"] == "5m"


def test_dashboard_uses_only_exported_series() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    names = exported()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            found = series(target["expr"])
            assert found, panel["title"]
            used |= found
    assert used <= names, used - names
    assert len(used) >= 7  # every family is on a panel


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    out = subprocess.run(
        [promtool, "check", "rules", str(MONITORING / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
