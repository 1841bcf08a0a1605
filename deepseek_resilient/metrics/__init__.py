"""Metrics and traces as hooks: ``AsyncClient(hooks=[PrometheusMetrics(), ...])``.

==========================  ==============================================================
``PrometheusMetrics``       prometheus-client series (extra ``metrics``)
``OpenTelemetryMetrics``    OpenTelemetry spans and metrics, GenAI conventions (extra ``otel``)
==========================  ==============================================================

Neither library is imported until one of these is created. Label and attribute values are
provider names, model names, error type names and outcomes: never a key, a prompt or an
answer. See docs/observability.md.
"""

from ._conventions import DURATION_BUCKETS, TOKEN_BUCKETS, TTFT_BUCKETS
from ._otel import OpenTelemetryMetrics
from ._prometheus import PrometheusMetrics

__all__ = [
    "DURATION_BUCKETS",
    "TOKEN_BUCKETS",
    "TTFT_BUCKETS",
    "OpenTelemetryMetrics",
    "PrometheusMetrics",
]
