"""Request validation (before any I/O) and wire compatibility of the response types."""

from __future__ import annotations

import pytest
from _support import USER, http_provider

from deepseek_resilient import (
    ChatCompletion,
    ChatMessage,
    Client,
    InvalidRequestError,
)
from deepseek_resilient.testing import FaultServer, Ok

BAD_MESSAGES = [
    [],
    [{"role": "user"}],
    [{"role": "robot", "content": "x"}],
    [{"role": "tool", "content": "42"}],
    [{"role": "assistant"}],
    [{"content": "no role"}],
    ["just a string"],
    None,
]


@pytest.mark.parametrize("messages", BAD_MESSAGES)
def test_bad_messages_rejected_before_any_io(llm_server: FaultServer, messages: object) -> None:
    with Client([http_provider(llm_server.base_url)]) as client:
        with pytest.raises(InvalidRequestError) as info:
            client.chat.completions.create(messages=messages)
    assert "messages" in str(info.value)
    assert llm_server.calls == 0 and llm_server.connections == 0


@pytest.mark.parametrize(
    "params",
    [{"temperature": 3}, {"max_tokens": 0}, {"top_p": -1}, {"stop": 5}],
)
def test_bad_parameters_rejected(llm_server: FaultServer, params: dict[str, object]) -> None:
    with Client([http_provider(llm_server.base_url)]) as client:
        with pytest.raises(InvalidRequestError):
            client.chat.completions.create(messages=USER, **params)
    assert llm_server.calls == 0


def test_a_misspelt_parameter_is_rejected_by_name(llm_server: FaultServer) -> None:
    with Client([http_provider(llm_server.base_url)]) as client:
        with pytest.raises(InvalidRequestError, match="temprature"):
            client.chat.completions.create(messages=USER, temprature=0)  # type: ignore[call-overload]
    assert llm_server.calls == 0


def test_messages_as_models_and_dicts_and_extra_body(llm_server: FaultServer) -> None:
    messages = [
        ChatMessage(role="system", content="Be brief."),
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function",
                                              "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "42"},
    ]  # fmt: skip
    with Client([http_provider(llm_server.base_url)]) as client:
        client.chat.completions.create(
            messages=messages, temperature=0, seed=7, extra_body={"thinking": {"type": "on"}}
        )
    body = llm_server.requests[0].body
    assert body is not None
    assert body["model"] == "m" and body["seed"] == 7 and body["thinking"] == {"type": "on"}
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert "stream" not in body and "extra_body" not in body


def test_request_model_overrides_provider_model(llm_server: FaultServer) -> None:
    with Client([http_provider(llm_server.base_url)]) as client:
        client.chat.completions.create(messages=USER, model="deepseek-reasoner")
    assert llm_server.requests[0].body["model"] == "deepseek-reasoner"  # type: ignore[index]


def test_deepseek_extra_and_unknown_fields_are_kept(llm_server: FaultServer) -> None:
    llm_server.script(Ok("answer", reasoning_content="thinking...", extra={"x_new": {"a": 1}}))
    with Client([http_provider(llm_server.base_url)]) as client:
        resp = client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.reasoning_content == "thinking..."
    assert resp.usage is not None and resp.usage.prompt_cache_hit_tokens == 0
    assert resp.usage.prompt_cache_miss_tokens == 5
    dumped = resp.model_dump()
    assert dumped["x_new"] == {"a": 1}
    assert "route" not in dumped and "_route" not in dumped
    again = ChatCompletion.model_validate_json(resp.model_dump_json())
    assert again.model_dump() == dumped
