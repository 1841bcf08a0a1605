"""The DeepSeek preset as DeepSeek's API is today: model names, thinking mode, user_id,
reasoning_content on tool turns, "model does not exist", JSON mode's empty answers, per-call
extra_headers / extra_query, and local backends refusing what they cannot honour."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from deepseek_resilient import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Client,
    ConfigurationError,
    DeepSeek,
    InvalidRequestError,
    NotFoundError,
    Provider,
    RetiredModelWarning,
    UnsupportedParameterError,
)
from deepseek_resilient._providers.messages import LOCAL_BASE, check_supported
from deepseek_resilient.testing import FakeProvider, FaultServer, InstantClock, Ok, Status

KEY = "sk-test-deepseek"
USER = [{"role": "user", "content": "Hi"}]


def preset(server: FaultServer, **options: Any) -> DeepSeek:
    return DeepSeek(api_key=KEY, base_url=server.base_url, **options)


def body_of(server: FaultServer, n: int = 0) -> dict[str, Any]:
    body = server.requests[n].body
    assert body is not None
    return body


def test_default_model_is_deepseek_flash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-env")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default must not warn
        assert DeepSeek().model == "deepseek-flash"


@pytest.mark.parametrize(
    ("model", "replacement"),
    [("deepseek-chat", "deepseek-flash"), ("deepseek-reasoner", "deepseek-v4-pro")],
)
def test_retired_model_name_warns_with_the_replacement(model: str, replacement: str) -> None:
    with pytest.warns(RetiredModelWarning, match=replacement) as caught:
        DeepSeek(model=model, api_key=KEY)
    assert model in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line


def test_thinking_and_effort_reach_the_wire(llm_server: FaultServer) -> None:
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        client.chat.completions.create(messages=USER, thinking=False)
        client.chat.completions.create(
            messages=USER, thinking={"type": "enabled"}, reasoning_effort="max", user_id="u-42"
        )
        client.chat.completions.create(messages=USER)
    first, second, third = (body_of(llm_server, i) for i in range(3))
    assert first["thinking"] == {"type": "disabled"} and first["model"] == "deepseek-flash"
    assert second["thinking"] == {"type": "enabled"}
    assert second["reasoning_effort"] == "max" and second["user_id"] == "u-42"
    # Nothing set: DeepSeek's own defaults apply, so nothing is sent.
    assert not {"thinking", "reasoning_effort", "user_id"} & set(third)


def test_constructor_defaults_apply_unless_the_call_sets_its_own(llm_server: FaultServer) -> None:
    provider = preset(llm_server, thinking=True, reasoning_effort="low")
    with Client([provider], clock=InstantClock()) as client:
        client.chat.completions.create(messages=USER)
        client.chat.completions.create(messages=USER, thinking=False, reasoning_effort="high")
    assert body_of(llm_server, 0)["thinking"] == {"type": "enabled"}
    assert body_of(llm_server, 0)["reasoning_effort"] == "low"
    assert body_of(llm_server, 1)["thinking"] == {"type": "disabled"}
    assert body_of(llm_server, 1)["reasoning_effort"] == "high"
    assert "enabled" in provider.identity and "low" in provider.identity  # cache keys differ


def test_bad_thinking_is_rejected_before_any_io(llm_server: FaultServer) -> None:
    with pytest.raises(ConfigurationError, match="thinking"):
        preset(llm_server, thinking="yes")
    with Client([preset(llm_server)]) as client:
        with pytest.raises(InvalidRequestError, match="thinking"):
            client.chat.completions.create(messages=USER, thinking={"type": "on"})
    assert llm_server.calls == 0


def _tool_call(name: str = "weather") -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}


def test_reasoning_content_is_sent_back_on_tool_turns(llm_server: FaultServer) -> None:
    # The first answer asks for a tool, with its reasoning; the caller appends that message
    # object as is (the openai-python idiom), then the tool's result.
    first = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "deepseek-flash",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "reasoning_content": "I need the weather.",
                    "tool_calls": [_tool_call()],
                },
            }
        ],
    }
    llm_server.script(_json(first), Ok("Sunny."))
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        resp = client.chat.completions.create(messages=messages, tools=[_weather_tool()])
        message = resp.choices[0].message
        assert message.tool_calls is not None and message.tool_calls[0].function is not None
        assert message.tool_calls[0].function.name == "weather"
        messages += [message, {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
        client.chat.completions.create(messages=messages, tools=[_weather_tool()])
    sent = body_of(llm_server, 1)["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["reasoning_content"] == "I need the weather."
    assert sent[1]["tool_calls"] == [_tool_call()]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def _weather_tool() -> dict[str, Any]:
    return {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


def _json(obj: dict[str, Any]) -> Any:
    """A 200 with exactly this JSON body (NotJson sends any body with any content type)."""
    import json

    from deepseek_resilient.testing import NotJson

    return NotJson(body=json.dumps(obj), content_type="application/json")


@pytest.mark.parametrize(
    "message", ["Model Not Exist", "The model `deepseek-chat` does not exist", "model not found"]
)
def test_model_not_exist_becomes_a_clear_not_found_error(
    llm_server: FaultServer, message: str
) -> None:
    llm_server.default = Status(400, message=message)
    with pytest.warns(RetiredModelWarning):
        deepseek = preset(llm_server, model="deepseek-chat")
    backup = FakeProvider(default="from the backup", name="backup")
    with Client([deepseek, backup], clock=InstantClock()) as client:
        resp = client.chat.completions.create(messages=USER)
    # A wrong model name is the provider's configuration, not the request: fail over.
    assert resp.choices[0].message.content == "from the backup"
    assert resp.route is not None and resp.route.provider == "backup"
    attempts = [a for a in resp.route.attempts if a.provider == "deepseek"]
    assert [a.error for a in attempts] == ["NotFoundError"]  # not retried
    with Client([preset(llm_server, model="deepseek-v4-pro")], clock=InstantClock()) as client:
        with pytest.raises(Exception) as info:
            client.chat.completions.create(messages=USER, model="deepseek-chat")
    error = info.value.errors[0] if hasattr(info.value, "errors") else info.value
    assert isinstance(error, NotFoundError) and error.status_code == 400
    text = str(error)
    assert "'deepseek-chat' is unknown to DeepSeek (retired on 2026-07-24)" in text
    assert "deepseek-flash" in text and "deepseek-v4-pro" in text


def test_other_bad_requests_stay_bad_requests(llm_server: FaultServer) -> None:
    llm_server.script(Status(400, message="The `reasoning_content` must be passed back"))
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        with pytest.raises(Exception, match="must be passed back") as info:
            client.chat.completions.create(messages=USER)
    assert type(info.value).__name__ == "BadRequestError"


JSON_MODE = {"response_format": {"type": "json_object"}}


def test_json_mode_empty_answer_is_asked_again_once(llm_server: FaultServer) -> None:
    llm_server.script(Ok(""), Ok('{"ok": true}'))
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        resp = client.chat.completions.create(messages=USER, **JSON_MODE)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == '{"ok": true}'
    assert llm_server.calls == 2


def test_json_mode_empty_twice_is_returned_as_is(llm_server: FaultServer) -> None:
    llm_server.script(Ok(""), Ok("  "), Ok("never asked"))
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        resp = client.chat.completions.create(messages=USER, **JSON_MODE)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == "  "
    assert llm_server.calls == 2


@pytest.mark.parametrize("stream", [False, True])
def test_json_mode_empty_answer_is_asked_again_with_a_fallback_in_the_chain(
    llm_server: FaultServer, stream: bool
) -> None:
    # With a fallback, a non-streamed request goes upstream as a stream: the same rule holds.
    llm_server.script(Ok(""), Ok('{"ok": true}'))
    fallback = FakeProvider("fallback")
    with Client([preset(llm_server), fallback], clock=InstantClock()) as client:
        if stream:
            with client.chat.completions.create(messages=USER, stream=True, **JSON_MODE) as s:  # type: ignore[call-overload]
                text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
        else:
            resp = client.chat.completions.create(messages=USER, **JSON_MODE)  # type: ignore[arg-type]
            text = resp.choices[0].message.content or ""
    assert text == '{"ok": true}'
    assert llm_server.calls == 2 and fallback.calls == 0


@pytest.mark.anyio
@pytest.mark.parametrize("json_mode", [False, True])
async def test_a_read_to_the_end_keeps_plain_chunks_outside_json_mode(
    llm_server: FaultServer, json_mode: bool
) -> None:
    # Outside JSON mode the preset reads as OpenAICompatible does (its common events stay
    # parsed JSON); in JSON mode every chunk is a model, held back for the second ask.
    llm_server.script(Ok("Hello there"))
    mode = JSON_MODE if json_mode else {}
    request = ChatRequest.model_validate({"messages": USER, "stream": True, **mode})
    source = preset(llm_server).plain_stream(request, idle_timeout=30)
    got = [chunk async for chunk in source]
    models = [isinstance(chunk, ChatCompletionChunk) for chunk in got]
    assert got and all(models) == json_mode


def test_empty_answer_outside_json_mode_is_not_asked_again(llm_server: FaultServer) -> None:
    llm_server.script(Ok(""), Ok("never asked"))
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        resp = client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "" and llm_server.calls == 1


@pytest.mark.parametrize("stream", [False, True])
def test_per_call_extra_headers_and_query(llm_server: FaultServer, stream: bool) -> None:
    with Client([preset(llm_server)], clock=InstantClock()) as client:
        answer = client.chat.completions.create(
            messages=USER,
            stream=stream,  # type: ignore[call-overload]
            extra_headers={"X-Trace": "t-1"},
            extra_query={"beta": "yes"},
            extra_body={"custom": 1},
        )
        if stream:
            with answer:
                list(answer)
    recorded = llm_server.requests[0]
    assert recorded.headers["x-trace"] == "t-1"
    assert recorded.headers["authorization"] == "<redacted>"  # still sent
    assert recorded.path.endswith("/chat/completions?beta=yes")
    body = recorded.body
    assert body is not None and body["custom"] == 1
    assert not {"extra_headers", "extra_query", "extra_body"} & set(body)


def test_extra_headers_stay_out_of_reprs() -> None:
    request = ChatRequest(messages=USER, extra_headers={"Authorization": "Bearer sk-SECRET"})  # type: ignore[arg-type]
    assert "sk-SECRET" not in repr(request)


# ----------------------------------------------------------------------------- local check


class _LocalLike(Provider):
    """A provider that checks like the local backends do, then answers."""

    name = "local"
    model = "tiny"
    local = True

    def __init__(self) -> None:
        self.answered = 0

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        check_supported(request, self.name)
        self.answered += 1
        return ChatCompletion.model_validate(
            {"id": "x", "choices": [{"message": {"content": "local answer"}}]}
        )

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        check_supported(request, self.name)
        yield ChatCompletionChunk.model_validate({"id": "x"})


@pytest.mark.parametrize(
    "params",
    [
        {"n": 2},
        {"logprobs": True},
        {"top_logprobs": 3},
        {"tool_choice": "required"},
        {"modalities": ["text", "audio"]},
        {"logit_bias": {"50256": -100}},
        {"web_search_options": {}},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_local_backend_refuses_what_it_cannot_honour(
    llm_server: FaultServer, params: dict[str, Any]
) -> None:
    local = _LocalLike()
    with Client([local, preset(llm_server)], clock=InstantClock()) as client:
        for _ in range(3):
            with pytest.raises(UnsupportedParameterError) as info:
                client.chat.completions.create(messages=USER, **params)
        health = client.health()["local"]
    error = info.value
    assert isinstance(error, InvalidRequestError)  # the caller's request, not the provider
    assert error.parameter == next(iter(params)) and next(iter(params)) in str(error)
    assert "[local]" in str(error)
    assert llm_server.calls == 0  # no silent fail over to the next provider
    assert local.answered == 0
    assert health.state == "closed" and health.failure_rate == 0.0  # breaker-neutral


@pytest.mark.parametrize(
    "params",
    [
        {"n": 1},
        {"logprobs": False},
        {"tool_choice": "auto", "tools": [_weather_tool()]},
        {"modalities": ["text"]},
        {"user": "u", "user_id": "u", "metadata": {"k": "v"}, "store": False},
        {"reasoning_effort": "low", "thinking": True, "service_tier": "auto"},
        {"max_completion_tokens": 5, "seed": 1, "temperature": 0, "stop": ["x"]},
        {"extra_body": {"x": 1}, "extra_headers": {"h": "v"}, "extra_query": {"q": "1"}},
    ],
)
def test_local_backend_accepts_plain_requests(params: dict[str, Any]) -> None:
    local = _LocalLike()
    with Client([local], clock=InstantClock()) as client:
        resp = client.chat.completions.create(messages=USER, **params)
    assert resp.choices[0].message.content == "local answer"


def test_refusal_when_streaming_and_after_a_failed_remote(llm_server: FaultServer) -> None:
    llm_server.default = Status(503)
    local = _LocalLike()
    with Client([preset(llm_server), local], clock=InstantClock()) as client:
        with pytest.raises(UnsupportedParameterError) as info:
            client.chat.completions.create(messages=USER, stream=True, n=3)
        health = client.health()["local"]
    assert info.value.parameter == "n"
    route = info.value.route
    assert route is not None and [a.provider for a in route.attempts][-1] == "local"
    assert health.calls_in_window == 0 or health.failure_rate == 0.0


def test_llama_cpp_honours_penalties_and_json_mode_transformers_does_not() -> None:
    from deepseek_resilient._providers.local import llama_cpp

    request = ChatRequest(
        messages=USER,  # type: ignore[arg-type]
        frequency_penalty=0.5,
        response_format={"type": "json_object"},
    )
    check_supported(request, "llama-cpp", llama_cpp.HONOURED)
    with pytest.raises(UnsupportedParameterError, match=r"frequency_penalty|response_format"):
        check_supported(request, "transformers", LOCAL_BASE)


@pytest.fixture
def llm_server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=60) as server:
        yield server
