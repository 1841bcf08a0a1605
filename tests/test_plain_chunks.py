"""Plain chunks (``_streaming.plain``): a stream read to its end keeps the common events as
parsed JSON instead of ``ChatCompletionChunk`` models. Over any events, what is kept plain
must be a chunk validation accepts, and the accumulated answer must be the one the models
give, field for field (unknown fields, usage, tool calls, logprobs, finish reasons)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _support import USER, http_provider
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from pydantic import ValidationError

from deepseek_resilient import AsyncClient
from deepseek_resilient._core.errors import InvalidResponseError
from deepseek_resilient._models import ChatCompletionChunk
from deepseek_resilient._streaming.accumulate import Accumulator, accumulate
from deepseek_resilient._streaming.opening import is_finished
from deepseek_resilient._streaming.plain import plain_chunk, plain_finished, plain_has_content
from deepseek_resilient.testing import FaultServer, NotJson

_ABSENT = object()


@pytest.fixture(autouse=True)
def _fresh_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test builds the plain check itself (it is built once per process, on first use):
    mutation testing forks its runs from a process that built it already."""
    from deepseek_resilient._streaming import plain

    monkeypatch.setattr(plain, "_validate", None)


_TEXT = st.sampled_from(["", "a", "Hel", "lo ", "\u00e9t\u00e9", "\U0001f600"])
_ODD = st.sampled_from([1, 1.0, True, None, [], {}, "1", 2**70, -1])


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_ABSENT), values)


def _fields(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    drawn = st.fixed_dictionaries({k: _maybe(v) for k, v in fields.items()})
    return drawn.map(lambda d: {k: v for k, v in d.items() if v is not _ABSENT})


_TOOL_CALL = st.fixed_dictionaries(
    {"index": st.integers(0, 1), "function": st.fixed_dictionaries({"arguments": _TEXT})}
)
_DELTA = st.one_of(
    _fields(
        role=st.one_of(st.just("assistant"), _ODD),
        content=st.one_of(_TEXT, st.none(), _ODD),
        reasoning_content=st.one_of(_TEXT, st.none()),
        tool_calls=st.lists(_TOOL_CALL, max_size=1),
        refusal=_TEXT,
        note=_ODD,
    ),
    _ODD,
)
_CHOICE = _fields(
    index=st.one_of(st.integers(0, 2), _ODD),
    delta=_DELTA,
    finish_reason=st.one_of(st.sampled_from(["stop", "length"]), st.none(), _ODD),
    logprobs=st.one_of(st.none(), st.just({"content": []})),
    extra=_ODD,
)
_COUNTS = _fields(
    prompt_tokens=st.one_of(st.integers(0, 2**70), _ODD),
    completion_tokens=st.integers(0, 9),
    total_tokens=st.integers(0, 9),
    prompt_cache_hit_tokens=st.one_of(st.integers(0, 9), st.none(), _ODD),
    prompt_cache_miss_tokens=st.one_of(st.integers(0, 9), st.none()),
    prompt_tokens_details=st.one_of(
        st.none(),
        _fields(
            cached_tokens=st.one_of(st.integers(0, 9), st.none(), _ODD),
            image_tokens=st.integers(0, 9),
            x=_ODD,
        ),
        _ODD,
    ),
    completion_tokens_details=st.one_of(
        st.none(),
        _fields(
            reasoning_tokens=st.one_of(st.integers(0, 9), st.none(), _ODD),
            text_tokens=st.integers(0, 9),
        ),
    ),
)
_USAGE = st.one_of(st.none(), _COUNTS, _ODD)
_BODY = _fields(
    id=st.one_of(st.sampled_from(["c1", "c2"]), _ODD),
    object=st.sampled_from(["chat.completion.chunk", "chat.completion"]),
    created=st.one_of(st.integers(0, 2**40), _ODD),
    model=st.one_of(st.sampled_from(["m", "n"]), _ODD),
    choices=st.one_of(st.lists(_CHOICE, max_size=2), _ODD),
    system_fingerprint=st.one_of(st.sampled_from(["fp_1", "fp_2"]), _ODD),
    service_tier=st.one_of(st.sampled_from(["default", "flex"]), _ODD),
    usage=_USAGE,
    obfuscation=st.one_of(_TEXT, _ODD),
    provider=_ODD,
    error=st.one_of(st.none(), st.just({"message": "busy"})),
)
# Events of the plain shape, with values of the right types only (most real events).
_PLAIN_CHOICE = _fields(
    index=st.integers(0, 2),
    delta=_fields(role=st.just("assistant"), content=st.one_of(_TEXT, st.none()),
                  reasoning_content=st.one_of(_TEXT, st.none())),
    finish_reason=st.one_of(st.sampled_from(["stop", "length"]), st.none()),
    logprobs=st.none(),
)  # fmt: skip
_PLAIN = st.fixed_dictionaries(
    {"id": st.sampled_from(["c1", "c2"])},
    optional={
        "object": st.just("chat.completion.chunk"), "created": st.integers(0, 2**70),
        "model": st.sampled_from(["m", "n"]), "choices": st.lists(_PLAIN_CHOICE, max_size=2),
        "system_fingerprint": st.one_of(st.none(), st.just("fp")),
        "usage": st.one_of(st.none(), _fields(prompt_tokens=st.integers(0, 9),
                                              total_tokens=st.integers(0, 9),
                                              prompt_cache_hit_tokens=st.integers(0, 9),
                                              prompt_tokens_details=st.just({"cached_tokens": 1}),
                                              completion_tokens_details=st.none())),
        "service_tier": st.one_of(st.none(), st.sampled_from(["default", "flex"])),
        "obfuscation": st.one_of(st.none(), _TEXT),
    },
)  # fmt: skip
_EVENT = st.one_of(
    _PLAIN.map(json.dumps),
    _BODY.map(json.dumps),
    st.sampled_from(["{not json", "[]", '"x"', "{}"]),
)


def _chunk(data: str) -> ChatCompletionChunk | None:
    try:
        return ChatCompletionChunk.model_validate_json(data)
    except ValidationError:
        return None


def _answer(acc: Accumulator) -> object:
    try:
        result = acc.result()
    except InvalidResponseError as exc:
        return str(exc)
    return result.model_dump(), result.model_dump(exclude_unset=True), result.to_dict()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENT, max_size=6))
def test_plain_chunks_accumulate_to_what_their_models_accumulate_to(events: list[str]) -> None:
    models, plain = Accumulator(), Accumulator()
    kept = 0
    for data in events:
        chunk = _chunk(data)
        body = plain_chunk(data)
        if body is not None:
            assert chunk is not None, f"kept plain but not a chunk: {data}"
            assert plain_has_content(body) == chunk.has_content
            assert plain_finished(body) == is_finished(chunk)
            plain.add_plain(body)
            kept += 1
        elif chunk is not None:
            plain.add(chunk)
        if chunk is not None:
            models.add(chunk)
    assert _answer(plain) == _answer(models)
    assert plain.finished() == models.finished() and plain.text() == models.text()
    target(kept)  # explore sequences with many plain events


_DEEPSEEK = {
    "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-chat",
    "system_fingerprint": "fp_1", "usage": None,
    "choices": [{"index": 0, "delta": {"content": "Hi", "reasoning_content": None},
                 "logprobs": None, "finish_reason": None}],
}  # fmt: skip
_OPENAI = {
    "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt",
    "service_tier": "default", "system_fingerprint": None, "obfuscation": "x1",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                 "logprobs": None, "finish_reason": None}],
}  # fmt: skip


@pytest.mark.parametrize("body", [_DEEPSEEK, _OPENAI], ids=["deepseek", "openai"])
def test_the_common_events_of_real_apis_are_plain(body: dict[str, Any]) -> None:
    assert plain_chunk(json.dumps(body)) == body


def test_a_usage_of_token_counts_and_their_details_is_plain() -> None:
    usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5,
             "prompt_tokens_details": {"cached_tokens": 0}, "prompt_cache_hit_tokens": 0,
             "prompt_cache_miss_tokens": 2}  # DeepSeek's  # fmt: skip
    assert plain_chunk(json.dumps({**_DEEPSEEK, "usage": usage})) == {**_DEEPSEEK, "usage": usage}
    reasoner = {**usage, "completion_tokens_details": {"reasoning_tokens": 3}}  # deepseek-reasoner
    assert plain_chunk(json.dumps({**_DEEPSEEK, "usage": reasoner})) == {
        **_DEEPSEEK,
        "usage": reasoner,
    }


def test_a_plain_usage_is_not_shared_between_two_answers() -> None:
    acc = Accumulator()
    acc.add_plain({**_DEEPSEEK, "usage": {"prompt_tokens": 2, "total_tokens": 5}})
    first, second = acc.result(), acc.result()
    assert first.usage == second.usage and first.usage is not second.usage


@pytest.mark.parametrize(
    "change",
    [
        {"usage": {"total_tokens": 3, "prompt_tokens_details": {"cached_tokens": 0, "x": 1}}},
        {"usage": {"completion_tokens_details": {"reasoning_tokens": "1"}}},
        {"usage": {"total_tokens": 3.0}},
        {"usage": {"total_tokens": True}},
        {"usage": {"x": 1}},
        {"error": {"message": "busy"}},
        {"created": "1"},
        {"id": 5},
        {"choices": [{"index": 0, "delta": {"tool_calls": []}}]},
        {"choices": [{"index": 0, "delta": {}, "logprobs": {"content": []}}]},
        {"choices": [{"index": True, "delta": {}}]},
        {"x": 1},
    ],
)
def test_anything_else_is_left_to_the_model(change: dict[str, Any]) -> None:
    assert plain_chunk(json.dumps({**_DEEPSEEK, **change})) is None


# ----------------------------------------------------------------------------- end to end

_STREAM = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
     "service_tier": "default", "system_fingerprint": "fp_1", "usage": None},
    {"choices": [{"index": 0, "delta": {"reasoning_content": "think"}, "logprobs": None}]},
    {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"content": "lo", "refusal": None}}], "provider": "x"},
    {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "t1", "function": {"name": "f", "arguments": "{}"}}]}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "obfuscation": "pad",
     "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}},
]  # fmt: skip


@pytest.mark.anyio
async def test_an_answer_read_to_its_end_is_the_accumulation_of_its_chunk_models(
    llm_server: FaultServer,
) -> None:
    base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 7, "model": "m"}
    datas = [json.dumps({**base, **event}) for event in _STREAM]
    body = "".join(f"data: {d}\n\n" for d in datas) + "data: [DONE]\n\n"
    llm_server.script(NotJson(body=body, content_type="text/event-stream"))
    providers = [http_provider(llm_server.base_url), http_provider("http://127.0.0.1:9", "b")]
    async with AsyncClient(providers, timeout=60) as client:  # the first-token limit applies
        answer = await client.chat.completions.create(messages=USER)
    sent = llm_server.requests[0].body
    assert sent is not None and sent["stream"] is True  # read to its end here
    assert sum(plain_chunk(d) is not None for d in datas) == 4  # both paths were taken (the
    # last event, usage included, is plain)
    want = accumulate(ChatCompletionChunk.model_validate_json(d) for d in datas)
    assert answer.to_dict() == want.to_dict()
    assert answer.model_dump(exclude_unset=True) == want.model_dump(exclude_unset=True)


def test_the_check_is_built_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not at import (nothing is built then); the first call in a process builds it.
    from deepseek_resilient._streaming import plain

    monkeypatch.setattr(plain, "_validate", None)
    body = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    assert plain_chunk(json.dumps(body)) == body
    assert plain_chunk(json.dumps({**body, "id": 1})) is None
    assert plain._validate is not None
