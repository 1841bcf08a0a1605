"""openai-agents over the drop-in: ``Runner.run_sync`` and ``run_streamed`` with a tool and an
``output_type``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from deepseek_resilient import AsyncOpenAI, OpenAI

agents = pytest.importorskip("agents")


class Weather(BaseModel):
    city: str
    celsius: float


def _agent(asynchronous: AsyncOpenAI) -> Any:
    agents.set_tracing_disabled(True)  # no trace upload from tests

    @agents.function_tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    model = agents.OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=asynchronous)
    return agents.Agent(
        name="forecaster",
        instructions="Use the tool, then answer.",
        tools=[weather],
        output_type=Weather,
        model=model,
    )


def test_run_sync_with_a_tool_and_an_output_type(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    result = agents.Runner.run_sync(_agent(clients[1]), "Weather in Paris?")
    assert result.final_output == Weather(city="text", celsius=1.0)
    tool_outputs = [i for i in result.new_items if i.type == "tool_call_output_item"]
    assert [i.output for i in tool_outputs] == ["sunny in text"]


@pytest.mark.anyio
async def test_run_streamed(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    result = agents.Runner.run_streamed(_agent(clients[1]), "Weather in Paris?")
    kinds = {event.type async for event in result.stream_events()}
    assert "raw_response_event" in kinds
    assert result.final_output == Weather(city="text", celsius=1.0)
