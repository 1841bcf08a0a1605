"""openai-python parity: responses and chunks read like openai's own types (checked against
them), every chat parameter reaches the server, and the client conventions (``with_options``,
``models.list()``, typed constructor keywords)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletion as OpenAIChatCompletion
from openai.types.chat import ChatCompletionChunk as OpenAIChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from pydantic import BaseModel

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    ChatCompletion,
    ChatCompletionChunk,
    Client,
    ClientOptions,
    ConfigurationError,
    CreateParams,
    DeepSeek,
    InvalidRequestError,
    Provider,
)
from deepseek_resilient.testing import (
    FakeProvider,
    FaultServer,
    InstantClock,
    NotJson,
    Ok,
    server_provider,
)

USER = [{"role": "user", "content": "Hi"}]

LOGPROBS = {
    "content": [
        {
            "token": "Hi",
            "logprob": -0.1,
            "bytes": [72, 105],
            "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
        }
    ],
    "refusal": None,
}
USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 20,
    "total_tokens": 30,
    "prompt_cache_hit_tokens": 4,
    "prompt_cache_miss_tokens": 6,
    "completion_tokens_details": {"reasoning_tokens": 12, "accepted_prediction_tokens": 0},
    "prompt_tokens_details": {"cached_tokens": 4},
}
COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-rich",
    "object": "chat.completion",
    "created": 1764400000,
    "model": "deepseek-flash",
    "system_fingerprint": "fp_1",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": LOGPROBS,
            "message": {
                "role": "assistant",
                "content": "Hi",
                "reasoning_content": "Think first.",
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
        }
    ],
    "usage": USAGE,
}
CHUNKS: list[dict[str, Any]] = [
    {
        "id": "chatcmpl-rich",
        "object": "chat.completion.chunk",
        "created": 1764400000,
        "model": "deepseek-flash",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    },
    {
        "id": "chatcmpl-rich",
        "object": "chat.completion.chunk",
        "created": 1764400000,
        "model": "deepseek-flash",
        "choices": [
            {
                "index": 0,
                "delta": {"reasoning_content": "Think.", "content": "Hi"},
                "logprobs": LOGPROBS,
            }
        ],
    },
    {
        "id": "chatcmpl-rich",
        "object": "chat.completion.chunk",
        "created": 1764400000,
        "model": "deepseek-flash",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city"'},
                        }
                    ]
                },
            }
        ],
    },
    {
        "id": "chatcmpl-rich",
        "object": "chat.completion.chunk",
        "created": 1764400000,
        "model": "deepseek-flash",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ': "Paris"}'}}]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
    },
]


def _sse(chunks: list[dict[str, Any]]) -> str:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def assert_same_attributes(theirs: Any, ours: Any, path: str = "resp") -> int:
    """Every field openai's object has set is reachable by the same attribute path on ours,
    with the same value. Returns how many leaf values were compared."""
    if isinstance(theirs, BaseModel):
        assert ours is not None, f"{path} is None on ours"
        compared = 0
        for name in type(theirs).model_fields:
            value = getattr(theirs, name)
            if value is None:
                continue
            assert hasattr(ours, name), f"{path}.{name} is missing on ours"
            compared += assert_same_attributes(value, getattr(ours, name), f"{path}.{name}")
        return compared
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        return sum(
            assert_same_attributes(t, o, f"{path}[{i}]")
            for i, (t, o) in enumerate(zip(theirs, ours))
        )
    assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    return 1


def test_completion_reads_like_openais_own_type(llm_server: FaultServer) -> None:
    llm_server.script(NotJson(body=json.dumps(COMPLETION), content_type="application/json"))
    with Client([server_provider(llm_server)], clock=InstantClock()) as client:
        resp = client.chat.completions.create(messages=USER)
    theirs = OpenAIChatCompletion.model_validate(resp.model_dump())
    assert assert_same_attributes(theirs, resp) >= 25
    # The paths the issue names, typed on ours (no dict access anywhere).
    message = resp.choices[0].message
    assert message.tool_calls is not None and message.tool_calls[0].function is not None
    assert message.tool_calls[0].function.name == "weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    logprobs = resp.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert logprobs.content[0].top_logprobs[0].logprob == -0.1
    assert resp.usage is not None and resp.usage.completion_tokens_details is not None
    assert resp.usage.completion_tokens_details.reasoning_tokens == 12
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 4
    # DeepSeek's and unknown fields survive; to_dict / to_json give the wire shape back.
    assert message.reasoning_content == "Think first." and resp.usage.prompt_cache_hit_tokens == 4
    assert resp.to_dict() == COMPLETION
    assert json.loads(resp.to_json()) == COMPLETION
    assert "\n" not in resp.to_json(indent=None)
    assert resp.route is not None and resp.route.provider == "llm_server"


def test_chunks_read_like_openais_own_type(llm_server: FaultServer) -> None:
    llm_server.script(NotJson(body=_sse(CHUNKS), content_type="text/event-stream"))
    with Client([server_provider(llm_server)], clock=InstantClock()) as client:
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            chunks = list(stream)
    assert len(chunks) == len(CHUNKS)
    compared = 0
    for chunk, wire in zip(chunks, CHUNKS):
        assert isinstance(chunk, ChatCompletionChunk)
        theirs = OpenAIChatCompletionChunk.model_validate(chunk.model_dump())
        compared += assert_same_attributes(theirs, chunk, "chunk")
        assert chunk.to_dict() == wire
    assert compared >= 30
    call = chunks[2].choices[0].delta.tool_calls
    assert call is not None and call[0].function is not None
    assert (call[0].index, call[0].id, call[0].function.name) == (0, "call_1", "weather")
    logprobs = chunks[1].choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert logprobs.content[0].token == "Hi"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 12


def test_answers_built_in_code_still_show_their_constants() -> None:
    built = ChatCompletion.model_validate({"id": "x", "choices": [{"message": {"content": "a"}}]})
    assert built.to_dict() == {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"message": {"role": "assistant", "content": "a"}}],
    }
    assert ChatCompletionChunk(id="y").to_dict() == {"id": "y", "object": "chat.completion.chunk"}
    # openai's own type accepts the full dump of an answer built in code too.
    OpenAIChatCompletion.model_validate(
        ChatCompletion.model_validate(
            {"id": "x", "choices": [{"message": {"content": "a"}, "finish_reason": "stop"}]}
        ).model_dump()
    )


# ----------------------------------------------------------------------------- parameters

#: A value for every parameter of openai-python's ``completion_create_params``.
EVERY_PARAMETER: dict[str, Any] = {
    "audio": {"voice": "alloy", "format": "wav"},
    "frequency_penalty": 0.5,
    "function_call": "auto",
    "functions": [{"name": "f", "parameters": {"type": "object"}}],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "max_completion_tokens": 64,
    "max_tokens": 32,
    "metadata": {"team": "a"},
    "modalities": ["text"],
    "moderation": {"model": "omni-moderation-latest"},
    "n": 2,
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": "Hello"},
    "presence_penalty": -0.5,
    "prompt_cache_key": "k-1",
    "prompt_cache_options": {"mode": "implicit"},
    "prompt_cache_retention": "24h",
    "reasoning_effort": "high",
    "response_format": {"type": "json_object"},
    "safety_identifier": "hash-1",
    "seed": 7,
    "service_tier": "flex",
    "stop": ["END"],
    "store": True,
    "stream_options": {"include_usage": True},
    "temperature": 0.3,
    "tool_choice": "auto",
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "top_logprobs": 2,
    "top_p": 0.9,
    "user": "end-user-1",
    "verbosity": "low",
    "web_search_options": {"search_context_size": "low"},
}


def test_create_params_cover_openais_parameters() -> None:
    theirs = set(CompletionCreateParamsBase.__annotations__) - {"messages", "model", "stream"}
    assert theirs <= set(EVERY_PARAMETER), theirs - set(EVERY_PARAMETER)
    ours = set(CreateParams.__annotations__)
    assert theirs <= ours, f"CreateParams lacks {sorted(theirs - ours)}"
    assert {"thinking", "user_id", "extra_headers", "extra_query", "extra_body"} <= ours


def test_every_standard_parameter_reaches_the_server(llm_server: FaultServer) -> None:
    with Client([server_provider(llm_server)], clock=InstantClock()) as client:
        client.chat.completions.create(messages=USER, model="gpt-x", **EVERY_PARAMETER)
    body = llm_server.requests[0].body
    assert body is not None
    for name, value in EVERY_PARAMETER.items():
        assert body.get(name) == value, name
    assert body["model"] == "gpt-x"


@pytest.mark.parametrize(
    ("name", "value"), [("bogus_param", 1), ("temprature", 0.2), ("thinking_budget", 10)]
)
def test_unknown_keyword_names_it_and_suggests_extra_body(
    llm_server: FaultServer, name: str, value: object
) -> None:
    with Client([server_provider(llm_server)]) as client:
        with pytest.raises(InvalidRequestError) as info:
            client.chat.completions.create(messages=USER, **{name: value})  # type: ignore[arg-type]
    text = str(info.value)
    assert f"unknown parameter {name!r}" in text and f"extra_body={{{name!r}: ...}}" in text
    assert llm_server.calls == 0


# ----------------------------------------------------------------------------- conventions


def test_client_options_match_the_async_client_signature() -> None:
    params = inspect.signature(AsyncClient.__init__).parameters
    keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(ClientOptions.__annotations__) == keywords


def test_a_foreign_constructor_keyword_is_refused() -> None:
    # mypy refuses it statically (ClientOptions); at run time it is a TypeError.
    with pytest.raises(TypeError, match="max_retries"):
        Client([FakeProvider()], max_retries=2)  # type: ignore[call-arg]


def test_with_options_shares_state_and_sets_call_defaults(llm_server: FaultServer) -> None:
    with Client([server_provider(llm_server)], clock=InstantClock(), timeout=30) as client:
        quick = client.with_options(timeout=5, extra_headers={"X-Team": "a"})
        assert type(quick) is Client
        assert quick._async.timeout == 5 and client._async.timeout == 30
        assert quick.providers is client.providers
        assert quick._async._slots is client._async._slots  # breakers and limiters shared
        quick.chat.completions.create(messages=USER)
        quick.chat.completions.create(messages=USER, extra_headers={"X-Call": "b"})
        client.chat.completions.create(messages=USER)
        nested = quick.with_options(extra_headers={"X-More": "c"})
        nested.chat.completions.create(messages=USER)
    first, second, plain, third = llm_server.requests
    assert first.headers["x-team"] == "a"
    assert second.headers["x-team"] == "a" and second.headers["x-call"] == "b"
    assert "x-team" not in plain.headers
    assert third.headers["x-team"] == "a" and third.headers["x-more"] == "c"
    # Closing the parent closed the shared loop: the clone says so in our own terms.
    with pytest.raises(ConfigurationError, match="closed"):
        quick.chat.completions.create(messages=USER)


def test_with_options_refuses_what_it_cannot_change() -> None:
    with Client([FakeProvider()]) as client:
        with pytest.raises(ConfigurationError, match="max_retries"):
            client.with_options(max_retries=0)  # type: ignore[call-arg]


async def test_async_with_options_timeout_is_the_calls_deadline() -> None:
    async with AsyncClient([FakeProvider()], timeout=30) as client:
        short = client.with_options(timeout=2)
        resp = await short.chat.completions.create(messages=USER)
        assert resp.choices[0].message.content == "fake answer"
        assert short.timeout == 2 and client.timeout == 30
        with pytest.raises(ConfigurationError):
            client.with_options(timeout=-1)


class _Unlisted(FakeProvider):
    local = True


def test_models_list_over_the_chain(llm_server: FaultServer) -> None:
    remote = server_provider(llm_server)
    local = _Unlisted(name="local", model="smollm2")
    with Client([remote, local], clock=InstantClock()) as client:
        listed = client.models.list()
    assert [(m.id, m.provider) for m in listed] == [
        ("test-model", "llm_server"),
        ("smollm2", "local"),
    ]
    assert listed.object == "list" and len(listed) == 2 and listed.data[0].object == "model"
    assert llm_server.calls == 0  # /models is not a chat call


async def test_models_list_leaves_out_a_provider_that_fails() -> None:
    dead = DeepSeek(api_key="sk-x", base_url="http://127.0.0.1:9/v1", connect_timeout=0.5)
    providers: list[Provider] = [dead, _Unlisted(name="local", model="smollm2")]
    async with AsyncClient(providers) as client:
        listed = await client.models.list()
        assert [m.id for m in listed] == ["smollm2"]
    async with AsyncClient([dead]) as client:
        with pytest.raises(AllProvidersFailed):
            await client.models.list()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio


@pytest.fixture
def llm_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=60) as server:
        server.default = Ok("hello")
        yield server
