"""Names, bucket boundaries and attribute sets of the exporters (OpenTelemetry GenAI
conventions)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .._core.errors import ConfigurationError

__all__ = [
    "DURATION_BUCKETS",
    "KNOWN_MODELS",
    "MAX_LABEL",
    "OPERATION",
    "OTHER_MODEL",
    "TOKEN_BUCKETS",
    "TTFT_BUCKETS",
    "ModelLabels",
    "attempt_start",
    "duration_attributes",
    "latest_experimental",
    "request_start",
    "require",
    "token_attributes",
]

#: ``gen_ai.operation.name`` of every call this client makes.
OPERATION = "chat"
#: The advised boundaries of ``gen_ai.client.operation.duration`` (seconds).
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
#: The advised boundaries of ``gen_ai.client.token.usage`` (tokens).
TOKEN_BUCKETS: tuple[float, ...] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
#: Time to first token (seconds): the duration buckets, with finer steps below 10 ms.
TTFT_BUCKETS: tuple[float, ...] = (0.001, 0.005, *DURATION_BUCKETS)


#: Model names that are always their own label value (DeepSeek's, current and retired).
KNOWN_MODELS = frozenset(
    {"deepseek-flash", "deepseek-v4-pro", "deepseek-chat", "deepseek-reasoner", "local"}
)
#: The label value of every other model name (a caller-supplied ``model=`` must not create a
#: series per distinct value).
OTHER_MODEL = "other"
#: The longest label value kept (longer configured names are cut).
MAX_LABEL = 100


class ModelLabels:
    """Maps a request's model name to a bounded label value: a known or configured name is
    itself (cut to ``MAX_LABEL`` characters), anything else is ``"other"``. The clients add
    their providers' models (``allow``); ``models=`` on the exporter adds more."""

    __slots__ = ("_allowed",)

    def __init__(self, models: Iterable[str] = ()) -> None:
        self._allowed: frozenset[str] = KNOWN_MODELS
        self.allow(models)

    def allow(self, models: Iterable[str]) -> None:
        """Keep ``models`` as label values of their own."""
        if isinstance(models, str):
            models = (models,)
        self._allowed = self._allowed | {m for m in models if isinstance(m, str) and m}

    def __call__(self, model: str | None) -> str:
        if model is None:
            return ""
        if model in self._allowed:
            return model[:MAX_LABEL]
        return OTHER_MODEL


def latest_experimental() -> bool:
    """True when ``OTEL_SEMCONV_STABILITY_OPT_IN`` lists ``gen_ai_latest_experimental``."""
    raw = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "gen_ai_latest_experimental" in {part.strip() for part in raw.split(",")}


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise ``ConfigurationError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(
            f"{what} needs {module.split('.')[0]}: pip install 'deepseek-resilient[{extra}]'"
        ) from exc


def _provider_attributes(provider: str, model: str) -> dict[str, Any]:
    """The attributes every provider-level record and span starts from."""
    return {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }


def request_start(model: str, stream: bool) -> tuple[str, dict[str, Any]]:
    """The name and start attributes of a request span."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": OPERATION, "gen_ai.request.model": model}
    if stream:
        attrs["deepseek_resilient.stream"] = True
    return f"{OPERATION} {model}", attrs


def attempt_start(
    provider: str, model: str, attempt: int, address: str | None
) -> tuple[str, dict[str, Any]]:
    """The name and start attributes of an attempt span."""
    attrs = _provider_attributes(provider, model)
    attrs["deepseek_resilient.attempt"] = attempt
    if address:
        attrs["server.address"] = address
    return f"{OPERATION} {model}", attrs


def duration_attributes(
    provider: str, model: str, address: str | None, error_type: str | None
) -> dict[str, Any]:
    """The attributes of a ``gen_ai.client.operation.duration`` record."""
    attrs = _provider_attributes(provider, model)
    if address:
        attrs["server.address"] = address
    if error_type is not None:
        attrs["error.type"] = error_type
    return attrs


def token_attributes(
    provider: str, model: str, response_model: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes of the input and the output ``gen_ai.client.token.usage`` records."""
    attrs = _provider_attributes(provider, model)
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    return {**attrs, "gen_ai.token.type": "input"}, {**attrs, "gen_ai.token.type": "output"}
