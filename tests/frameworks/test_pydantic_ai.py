"""pydantic-ai over the drop-in: ``run_sync``, ``run_stream``, tools and ``NativeOutput``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from deepseek_resilient import AsyncOpenAI, OpenAI

pydantic_ai = pytest.importorskip("pydantic_ai")
# pydantic-ai's OpenAI model needs openai 3.x: under openai 2.x it refuses to import.
openai_models = pytest.importorskip("pydantic_ai.models.openai", exc_type=ImportError)
openai_providers = pytest.importorskip("pydantic_ai.providers.openai")


class Weather(BaseModel):
    city: str
    celsius: float


def _model(asynchronous: AsyncOpenAI) -> Any:
    provider = openai_providers.OpenAIProvider(openai_client=asynchronous)
    return openai_models.OpenAIChatModel("gpt-4o-mini", provider=provider)


def test_run_sync_with_a_tool(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    agent = pydantic_ai.Agent(_model(clients[1]))
    calls: list[str] = []

    @agent.tool_plain
    def weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    result = agent.run_sync("Weather in Paris?")
    assert calls == ["text"]
    assert result.output == "answer: sunny in text"


def test_native_output(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    agent = pydantic_ai.Agent(_model(clients[1]), output_type=pydantic_ai.NativeOutput(Weather))
    assert agent.run_sync("Weather in Paris?").output == Weather(city="text", celsius=1.0)


@pytest.mark.anyio
async def test_run_stream(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    agent = pydantic_ai.Agent(_model(clients[1]))
    async with agent.run_stream("Hi") as result:
        pieces = [text async for text in result.stream_text(delta=True)]
    assert "".join(pieces) == "answer: Hi"
