"""Helpers shared by the Redis tests: clients on ``RedisState`` against the FaultServer."""

from __future__ import annotations

from typing import Any

from deepseek_resilient import AsyncClient, OpenAICompatible, RedisState, Retry
from deepseek_resilient.testing import FaultServer

SECRET = "sk-test-redis-SECRET-42"
NS = "t"
#: A key of the namespace, as the stores name them (``{ns}`` is a Redis Cluster hash tag).
PREFIX = "{" + NS + "}:"


def provider(server: FaultServer, name: str = "primary", model: str = "ok") -> OpenAICompatible:
    return OpenAICompatible(name=name, base_url=server.base_url, model=model, api_key=SECRET)


def client(server: FaultServer, url: str, *models: str, **options: Any) -> AsyncClient:
    names = ["primary", "backup", "third"]
    providers = [provider(server, names[i], m) for i, m in enumerate(models or ("ok",))]
    options.setdefault("retry", Retry(attempts=1))
    options.setdefault("state", RedisState(url, namespace=NS, op_timeout=0.5, retry_interval=0.05))
    return AsyncClient(providers, **options)


def ask(text: str, **options: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **options}


def model_calls(server: FaultServer, model: str) -> int:
    return sum(1 for r in list(server.requests) if (r.body or {}).get("model") == model)
