"""langchain-openai's ``ChatOpenAI`` over the drop-in."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from deepseek_resilient import AsyncOpenAI, OpenAI
from deepseek_resilient.testing import FaultServer, Ok

langchain_openai = pytest.importorskip("langchain_openai")


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    celsius: float


def _chat(clients: tuple[OpenAI, AsyncOpenAI]) -> Any:
    sync, asynchronous = clients
    return langchain_openai.ChatOpenAI(
        model="gpt-4o-mini",
        api_key="sk-test",
        root_client=sync,
        client=sync.chat.completions,
        root_async_client=asynchronous,
        async_client=asynchronous.chat.completions,
    )


def test_invoke_and_stream(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    chat = _chat(clients)
    reply = chat.invoke("Hi")
    assert reply.content == "answer: Hi"
    assert reply.response_metadata["model_name"] == "test-model"  # who answered
    chunks = [c.content for c in chat.stream("Hi")]
    assert "".join(chunks) == "answer: Hi"


@pytest.mark.anyio
async def test_ainvoke_and_astream(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    chat = _chat(clients)
    reply = await chat.ainvoke("Hi")
    assert reply.content == "answer: Hi"
    chunks = [c.content async for c in chat.astream("Hi")]
    assert "".join(chunks) == "answer: Hi"


def test_bind_tools(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    reply = _chat(clients).bind_tools([Weather]).invoke("Weather in Paris?")
    (call,) = reply.tool_calls
    assert call["name"] == "Weather" and call["args"] == {"city": "text", "celsius": 1.0}


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_with_structured_output(
    clients: tuple[OpenAI, AsyncOpenAI], method: str, model_server: FaultServer
) -> None:
    expected = Weather(city="text", celsius=1.0)
    if method == "json_mode":  # no schema is sent: the model's JSON is scripted
        expected = Weather(city="Oslo", celsius=-3.0)
        model_server.script(Ok(expected.model_dump_json()))
    structured = _chat(clients).with_structured_output(Weather, method=method)
    assert structured.invoke("Weather in Paris? Answer in JSON.") == expected
