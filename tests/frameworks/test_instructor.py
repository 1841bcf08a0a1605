"""instructor over the drop-in: ``from_openai`` in TOOLS and JSON_SCHEMA modes, and
``create_partial``."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from deepseek_resilient import AsyncOpenAI, OpenAI

instructor = pytest.importorskip("instructor")

USER = [{"role": "user", "content": "Weather in Paris?"}]


class Weather(BaseModel):
    city: str
    celsius: float


@pytest.mark.parametrize("mode", ["TOOLS", "JSON_SCHEMA"])
def test_from_openai(clients: tuple[OpenAI, AsyncOpenAI], mode: str) -> None:
    client = instructor.from_openai(clients[0], mode=getattr(instructor.Mode, mode))
    weather = client.chat.completions.create(
        model="gpt-4o-mini", response_model=Weather, messages=USER, max_retries=0
    )
    assert weather.model_dump() == {"city": "text", "celsius": 1.0}


def test_create_partial(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    client = instructor.from_openai(clients[0], mode=instructor.Mode.TOOLS)
    partials = list(
        client.chat.completions.create_partial(
            model="gpt-4o-mini", response_model=Weather, messages=USER
        )
    )
    assert partials[-1].city == "text" and partials[-1].celsius == 1.0


@pytest.mark.anyio
async def test_async_from_openai(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    client = instructor.from_openai(clients[1], mode=instructor.Mode.TOOLS)
    weather = await client.chat.completions.create(
        model="gpt-4o-mini", response_model=Weather, messages=USER
    )
    assert weather.model_dump() == {"city": "text", "celsius": 1.0}
