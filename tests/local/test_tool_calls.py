"""Tool calls on the embedded model (xllamacpp, the real SmolLM2-135M GGUF) through the
public client: SmolLM2's chat template has no tool support, so the provider uses a generic
JSON format under a grammar. Backends without tool calls refuse a required call.
Also: ``extra_body`` reaches llama.cpp (``ignore_eos``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _support import need

from deepseek_resilient import AsyncClient, LlamaCpp, UnsupportedParameterError
from deepseek_resilient._models import ChatRequest
from deepseek_resilient._providers.messages import LOCAL_BASE, check_supported

pytestmark = [pytest.mark.local, pytest.mark.anyio]

ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"},
                   "b": {"type": "number"}}, "required": ["a", "b"]}}}  # fmt: skip
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}  # fmt: skip
TOOLS: Any = [WEATHER, ADD]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[AsyncClient]:
    need("xllamacpp")
    async with AsyncClient([LlamaCpp(engine="xllamacpp", warm=True, parallel=2)]) as c:
        yield c


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


async def test_a_required_tool_call_comes_back_as_tool_calls(client: AsyncClient) -> None:
    resp = await client.chat.completions.create(
        messages=user("What is 2 plus 3?"), tools=TOOLS, tool_choice="required", temperature=0
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name in {"add", "get_weather"}
    arguments = json.loads(call.function.arguments)  # valid JSON matching the tool's schema
    if call.function.name == "add":
        assert isinstance(arguments["a"], int | float) and isinstance(arguments["b"], int | float)
    else:
        assert isinstance(arguments["city"], str)


async def test_a_named_tool_choice_calls_that_tool_streamed(client: AsyncClient) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    stream = await client.chat.completions.create(
        messages=user("What is 2 plus 3?"), tools=TOOLS, tool_choice=named, temperature=0,
        stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = [c async for c in stream]
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    (call,) = calls
    assert call.index == 0 and call.function is not None
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments or "")["city"], str)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_tool_choice_none_answers_in_words(client: AsyncClient) -> None:
    resp = await client.chat.completions.create(
        messages=user("Say hello."), tools=TOOLS, tool_choice="none", temperature=0,
        max_tokens=16,
    )  # fmt: skip
    message = resp.choices[0].message
    assert message.tool_calls is None and (message.content or "").strip()


async def test_a_tool_result_in_the_history_is_accepted(client: AsyncClient) -> None:
    call = {"id": "c1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    history: Any = [
        *user("What is the weather in Paris?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 21 C"},
    ]
    resp = await client.chat.completions.create(
        messages=history, tools=TOOLS, tool_choice="none", temperature=0, max_tokens=24
    )
    assert (resp.choices[0].message.content or "").strip()


async def test_tool_requests_the_engine_cannot_do_are_typed_errors(client: AsyncClient) -> None:
    bad_name = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(UnsupportedParameterError) as info:
        await client.chat.completions.create(messages=user("hi"), tools=TOOLS, tool_choice=bad_name)
    assert info.value.parameter == "tool_choice"
    with pytest.raises(UnsupportedParameterError) as info:
        await client.chat.completions.create(
            messages=user("hi"), tools=TOOLS, response_format={"type": "json_object"}
        )
    assert info.value.parameter == "response_format"
    with pytest.raises(UnsupportedParameterError) as info:
        await client.chat.completions.create(
            messages=user("hi"),
            tools=[{"type": "web_search"}],  # type: ignore[list-item]
        )
    assert info.value.parameter == "tools"


async def test_extra_body_reaches_llama_cpp(client: AsyncClient) -> None:
    resp = await client.chat.completions.create(
        messages=user("Say hi."), temperature=0, max_tokens=40,
        extra_body={"ignore_eos": True}, cache=False,
    )  # fmt: skip
    assert resp.usage is not None and resp.usage.completion_tokens == 40


def test_backends_without_tool_calls_refuse_a_required_call() -> None:
    """They may answer ``tool_choice="auto"`` in words (a valid answer), never "required"."""
    forced = ChatRequest.model_validate(
        {"messages": user("hi"), "tools": TOOLS, "tool_choice": "required"}
    )
    with pytest.raises(UnsupportedParameterError) as info:
        check_supported(forced, "transformers", LOCAL_BASE)
    assert info.value.parameter == "tool_choice"
