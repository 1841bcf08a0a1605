"""What the drop-in writes on the wire: an SSE event is the bytes of the chunk's
``model_dump_json(exclude_unset=True)`` (written without the ``str`` round trip), whatever the
chunk holds; the route header is ASCII whatever the providers are called."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepseek_resilient import AsyncOpenAI, OpenAI, OpenAICompatible, route_of
from deepseek_resilient._dropin.engine import deadline_of
from deepseek_resilient._dropin.wire import ROUTE_HEADER, sse_event
from deepseek_resilient._models import ChatCompletionChunk
from deepseek_resilient.testing import FaultServer, Ok, Status

USER: list[Any] = [{"role": "user", "content": "Hi"}]

# Text with what JSON escapes: quotes, backslashes, control characters, non-ASCII, emoji.
_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)
_NUMBER = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False))
_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=6,
)
_TOOL_CALL = st.fixed_dictionaries(
    {"index": st.integers(0, 3)},
    optional={
        "id": _TEXT,
        "type": st.just("function"),
        "function": st.fixed_dictionaries({}, optional={"name": _TEXT, "arguments": _TEXT}),
    },
)
_DELTA = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["assistant", "tool"]),
        "content": st.one_of(st.none(), _TEXT),
        "reasoning_content": st.one_of(st.none(), _TEXT),
        "tool_calls": st.lists(_TOOL_CALL, max_size=2),
        "refusal": st.one_of(st.none(), _TEXT),
        "vendor_field": _VALUE,  # an unknown field is kept and sent on
    },
)
_CHOICE = st.fixed_dictionaries(
    {"index": st.integers(0, 3), "delta": _DELTA},
    optional={
        "finish_reason": st.one_of(st.none(), st.sampled_from(["stop", "length", "tool_calls"])),
        "logprobs": st.none(),
    },
)
_CHUNK = st.fixed_dictionaries(
    {"id": _TEXT},
    optional={
        "object": st.just("chat.completion.chunk"),
        "created": st.integers(0, 2**40),
        "model": _TEXT,
        "choices": st.lists(_CHOICE, max_size=2),
        "usage": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "prompt_tokens": st.integers(0, 10**6),
                    "completion_tokens": st.integers(0, 10**6),
                    "total_tokens": st.integers(0, 10**6),
                }
            ),
        ),
        "system_fingerprint": st.one_of(st.none(), _TEXT),
        "obfuscation": _TEXT,
        "extra": _VALUE,
    },
)


def _general(chunk: ChatCompletionChunk) -> bytes:
    """The event as the general serialiser writes it."""
    return b"data: " + chunk.model_dump_json(exclude_unset=True).encode() + b"\n\n"


@settings(max_examples=300, deadline=None)
@given(_CHUNK)
def test_an_sse_event_is_the_chunks_wire_json(data: dict[str, Any]) -> None:
    chunk = ChatCompletionChunk.model_validate(data)
    assert sse_event(chunk) == _general(chunk)


def test_an_sse_event_leaves_out_what_the_upstream_did_not_send() -> None:
    chunk = ChatCompletionChunk.model_validate(
        {"id": "c", "choices": [{"index": 0, "delta": {"content": 'é"\n'}}]}
    )
    event = sse_event(chunk)
    assert event == _general(chunk)
    assert event.startswith(b'data: {"id":"c","object":"chat.completion.chunk","choices":')
    assert b"usage" not in event and b"finish_reason" not in event
    assert event.endswith(b"}\n\n")


def test_a_provider_named_in_any_script_answers_with_its_route() -> None:
    """The route goes in a header too: names outside ASCII are escaped there, not refused."""
    with (
        FaultServer(lifetime=30, default=Status(500)) as down,
        FaultServer(lifetime=30, default=Ok("from the backup")) as backup,
    ):
        client = OpenAI(
            base_url=down.base_url,
            api_key="sk-test",
            local=False,
            max_retries=0,
            providers=[OpenAICompatible(name="réserve-東京", base_url=backup.base_url, model="m")],
        )
        with client:
            raw = client.chat.completions.with_raw_response.create(model="m", messages=USER)
            header = raw.headers[ROUTE_HEADER]
            answer = raw.parse()
            streamed = client.chat.completions.create(model="m", messages=USER, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert header.isascii() and "\\u" in header
    assert answer.choices[0].message.content == "from the backup"
    assert text == "from the backup"
    for route in (route_of(answer), route_of(raw)):
        assert route is not None and route.provider == "réserve-東京"


@pytest.mark.anyio
async def test_the_endpoint_keeps_as_many_connections_alive_as_openai() -> None:
    """Rounds of 32 overlapping calls reuse the first round's 32 connections (openai-python
    keeps up to 100 alive; a pool that kept 20 would reconnect 12 times a round)."""
    with FaultServer(lifetime=60, default=Ok("hi", delay=0.3)) as server:
        async with AsyncOpenAI(base_url=server.base_url, api_key="sk-test", local=False) as client:

            async def one() -> None:
                answer = await client.chat.completions.create(model="m", messages=USER)
                assert answer.choices[0].message.content == "hi"

            for _ in range(3):
                async with anyio.create_task_group() as group:
                    for _ in range(32):
                        group.start_soon(one)
        assert len(server.requests) == 96
        assert server.connections <= 32


@pytest.mark.parametrize(
    ("timeout", "deadline"),
    [
        (None, 7.0),
        ({}, 7.0),
        ({"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}, 600.0),
        ({"connect": 5.0, "read": None, "write": 30.0, "pool": None}, 30.0),
        ({"connect": None, "read": None, "write": None, "pool": None}, 7.0),
        ({"connect": 0.0, "read": 0.0, "write": 0.0, "pool": 0.0}, 7.0),
        ({"connect": 2, "read": 3, "write": 1, "pool": 1}, 3.0),
    ],
)
def test_the_deadline_is_the_longest_phase_set(
    timeout: dict[str, float | None] | None, deadline: float
) -> None:
    found = deadline_of(timeout, 7.0)
    assert found == deadline and type(found) is float
