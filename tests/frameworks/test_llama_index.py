"""llama-index's ``OpenAILike`` over the drop-in: ``chat``, ``stream_chat``,
``chat_with_tools`` and ``structured_predict``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from deepseek_resilient import AsyncOpenAI, OpenAI

openai_like = pytest.importorskip("llama_index.llms.openai_like")
llms = pytest.importorskip("llama_index.core.llms")
prompts = pytest.importorskip("llama_index.core.prompts")
tools = pytest.importorskip("llama_index.core.tools")


class Weather(BaseModel):
    city: str
    celsius: float


def _llm(clients: tuple[OpenAI, AsyncOpenAI]) -> Any:
    sync, asynchronous = clients
    llm = openai_like.OpenAILike(
        model="gpt-4o-mini",
        api_base=str(sync.base_url),
        api_key="sk-test",
        is_chat_model=True,
        is_function_calling_model=True,
        max_retries=0,
    )
    # OpenAILike builds its openai clients on first use; hand it the drop-in ones.
    llm._client, llm._aclient = sync, asynchronous
    return llm


def _user(text: str) -> list[Any]:
    return [llms.ChatMessage(role="user", content=text)]


def test_chat_and_stream_chat(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    llm = _llm(clients)
    assert llm.chat(_user("Hi")).message.content == "answer: Hi"
    last = None
    for last in llm.stream_chat(_user("Hi")):
        pass
    assert last is not None and last.message.content == "answer: Hi"


def test_chat_with_tools(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    llm = _llm(clients)
    tool = tools.FunctionTool.from_defaults(fn=weather)
    response = llm.chat_with_tools([tool], user_msg="Weather in Paris?")
    (selection,) = llm.get_tool_calls_from_response(response, error_on_no_tool_call=True)
    assert selection.tool_name == "weather" and selection.tool_kwargs == {"city": "text"}


def test_structured_predict(clients: tuple[OpenAI, AsyncOpenAI]) -> None:
    prompt = prompts.PromptTemplate("The weather in {city}?")
    weather = _llm(clients).structured_predict(Weather, prompt, city="Paris")
    assert weather == Weather(city="text", celsius=1.0)
