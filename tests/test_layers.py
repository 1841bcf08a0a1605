"""The layer table: one ``name -> factory`` map is the order, each factory lives in the policy
module that owns it, and ``client.pipeline`` prints what a client runs from it."""

from __future__ import annotations

from typing import Any

from deepseek_resilient import AsyncClient, Cache, RateLimit
from deepseek_resilient._core.call import when_complete, when_settled
from deepseek_resilient._core.errors import APIConnectionError, ProviderError
from deepseek_resilient._core.pipeline import LAYERS, PROVIDER_LAYERS, REQUEST_LAYERS
from deepseek_resilient._models import ChatCompletion
from deepseek_resilient._streaming.streams import OpenedStream
from deepseek_resilient.testing import FakeProvider

OWNERS = {
    "cache": "deepseek_resilient._policies.cache.layer",
    "coalesce": "deepseek_resilient._policies.coalesce",
    "deadline": "deepseek_resilient._core.pipeline",
    "retry": "deepseek_resilient._policies.retry",
    "breaker": "deepseek_resilient._policies.breaker",
    "rate_limit": "deepseek_resilient._policies.rate_limit.layer",
    "timed_send": "deepseek_resilient._policies.send",
}


def _completion() -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "c",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def test_one_table_is_the_order_and_each_factory_sits_with_its_policy() -> None:
    assert list(LAYERS) == [*REQUEST_LAYERS, *PROVIDER_LAYERS]
    assert REQUEST_LAYERS == ("validate", "cache", "coalesce", "deadline", "router")
    assert PROVIDER_LAYERS == ("retry", "breaker", "rate_limit", "timed_send")
    assert LAYERS["validate"] is None and LAYERS["router"] is None
    for name, module in OWNERS.items():
        factory = LAYERS[name]
        assert factory is not None and factory.__module__ == module, name


def test_the_printed_pipeline_leaves_out_what_a_client_does_not_use(tmp_path: Any) -> None:
    bare = AsyncClient([FakeProvider("p", breaker=None)], breaker=None)
    assert bare.pipeline == [
        "validate",
        "coalesce",
        "deadline",
        "router",
        "provider:retry",
        "provider:rate_limit",  # always: a 429's Retry-After pauses the provider
        "provider:timed_send",
    ]
    full = AsyncClient(
        [FakeProvider("p")],
        cache=Cache(directory=tmp_path),
        rate_limit=RateLimit(requests_per_second=100),
    )
    assert full.pipeline == [
        *REQUEST_LAYERS,
        *(f"provider:{n}" for n in PROVIDER_LAYERS),
    ]


def test_settled_callbacks_run_at_once_for_a_completion_and_at_a_stream_end() -> None:
    seen: list[tuple[ProviderError | None, ChatCompletion | None]] = []
    stored: list[ChatCompletion] = []
    completion = _completion()
    assert when_settled(completion, lambda e, c: seen.append((e, c))) is completion
    assert when_complete(completion, stored.append) is completion
    assert seen == [(None, completion)] and stored == [completion]

    seen.clear()
    stored.clear()
    stream = OpenedStream("p", [], None)
    when_settled(stream, lambda e, c: seen.append((e, c)))
    when_complete(stream, stored.append)
    assert seen == [] and stored == []  # nothing until the stream ends
    broken = APIConnectionError("cut", provider="p")
    for finish in stream.finishers:
        finish(broken)
    assert seen == [(broken, None)]
    assert len(stream.on_complete) == 1  # the cache stores only a stream that ended well
