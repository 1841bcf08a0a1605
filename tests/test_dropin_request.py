"""The drop-in's request body straight into a validated request (``wire.parsed_request``):
whenever that short way is taken, the request is the one the general way (``json.loads``,
``request_arguments``, ``create()``'s validation) builds, field for field, wire body for wire
body and cache key for cache key; every body it can't vouch for goes the general way."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from deepseek_resilient import AsyncOpenAI
from deepseek_resilient._client.create_args import validate_request
from deepseek_resilient._core.errors import InvalidRequestError
from deepseek_resilient._dropin import wire
from deepseek_resilient._dropin.wire import parsed_request, plain_json, request_arguments
from deepseek_resilient._models import ChatRequest
from deepseek_resilient._policies.cache.key import request_key
from deepseek_resilient.testing import FaultServer, Ok

_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)
_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), st.floats(-3, 3, allow_nan=False), _TEXT
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=5,
)
_PART = st.fixed_dictionaries({"type": st.just("text"), "text": _TEXT})
_THINKING = st.fixed_dictionaries({"type": st.sampled_from(["enabled", "disabled", "x"])})
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "nobody"])},
    optional={
        "content": st.one_of(_TEXT, st.none(), st.lists(_PART, max_size=2)),
        "name": _SCALAR,
        "tool_call_id": _TEXT,
        "vendor": _VALUE,  # an unknown message field is kept
    },
)  # fmt: skip
# Each field: values of its own JSON type, and of others (refused, or coerced differently
# by the general way).
_FIELDS = {
    "model": _SCALAR,
    "temperature": _SCALAR,
    "top_p": _SCALAR,
    "max_tokens": _SCALAR,
    "seed": _SCALAR,
    "n": _SCALAR,
    "stream": _SCALAR,
    "stop": st.one_of(_SCALAR, st.lists(_TEXT, max_size=2)),
    "tools": st.one_of(st.none(), st.lists(st.dictionaries(_TEXT, _VALUE, max_size=2), max_size=2)),
    "response_format": st.one_of(_SCALAR, st.dictionaries(_TEXT, _VALUE, max_size=2)),
    "thinking": st.one_of(_SCALAR, _THINKING),
    "user": _SCALAR,
    "metadata": st.one_of(_SCALAR, st.dictionaries(_TEXT, _SCALAR, max_size=2)),
    "vendor_option": _VALUE,  # unknown: passed on in extra_body by the general way
    "extra_body": st.dictionaries(_TEXT, _VALUE, max_size=2),
    "timeout": _SCALAR,
}  # fmt: skip
_ANY_BODY = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(_MESSAGE, max_size=3), _SCALAR)},
    optional=_FIELDS,
)
# Bodies as openai-python writes them: each field of its own type (some out of range).
_NUMBER = st.one_of(st.integers(-3, 300), st.floats(-3, 3, allow_nan=False))
_TYPED_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "developer"]), "content": _TEXT},
    optional={"name": _TEXT, "vendor": _VALUE},
)
_TYPED = {
    "model": _TEXT, "temperature": _NUMBER, "top_p": _NUMBER, "max_tokens": st.integers(-1, 9),
    "seed": st.integers(-(2**40), 2**40), "n": st.integers(0, 3), "stream": st.booleans(),
    "stop": st.one_of(_TEXT, st.lists(_TEXT, max_size=2)),
    "tools": st.lists(st.dictionaries(_TEXT, _VALUE, max_size=2), max_size=2),
    "response_format": st.dictionaries(_TEXT, _VALUE, max_size=2),
    "thinking": st.one_of(st.booleans(), _THINKING),
    "user": _TEXT, "metadata": st.dictionaries(_TEXT, _TEXT, max_size=2),
    "stream_options": st.dictionaries(_TEXT, _VALUE, max_size=2),
}  # fmt: skip
_TYPED_BODY = st.fixed_dictionaries(
    {"messages": st.lists(_TYPED_MESSAGE, min_size=1, max_size=3)}, optional=_TYPED
)
_BODY = st.one_of(_TYPED_BODY, _ANY_BODY)


def _general(content: bytes) -> ChatRequest | None:
    """The request the general way builds (None: refused)."""
    try:
        body = json.loads(content)
        messages, stream, params = request_arguments(body)
        return validate_request(messages, stream, params, plain=True)
    except InvalidRequestError:
        return None


def _same(fast: ChatRequest, general: ChatRequest) -> None:
    assert fast.model_dump() == general.model_dump()
    # The general way always sets ``stream``; otherwise, the same fields count as passed.
    assert fast.model_fields_set - {"stream"} == general.model_fields_set - {"stream"}
    assert [m.model_fields_set for m in fast.messages] == [
        m.model_fields_set for m in general.messages
    ]
    assert fast.to_wire("provider-model") == general.to_wire("provider-model")
    assert request_key(fast, ["a", "b"]) == request_key(general, ["a", "b"])


@settings(max_examples=600, deadline=None)
@given(body=_BODY, ascii_only=st.booleans(), spaced=st.booleans())
def test_a_body_taken_the_short_way_is_the_request_the_general_way_builds(
    body: dict[str, Any], ascii_only: bool, spaced: bool
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    content = json.dumps(body, ensure_ascii=ascii_only, separators=separators).encode()
    if not plain_json(content):
        return  # the engine takes the general way
    fast = parsed_request(content)
    event("short way" if fast is not None else "general way")
    if fast is None:
        return
    general = _general(content)
    assert general is not None, content
    _same(fast, general)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}], "model": "m"},
        {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": True,
         "stream_options": {"include_usage": True}, "temperature": 0, "max_tokens": 5},
        {"messages": [{"role": "user", "content": "héllo ☃"}], "tools": [{"type": "function",
         "function": {"name": "f", "parameters": {"type": "object"}}}], "seed": 3},
    ],
)  # fmt: skip
def test_what_openai_sends_takes_the_short_way(body: dict[str, Any]) -> None:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    fast = parsed_request(content)
    assert fast is not None
    general = _general(content)
    assert general is not None
    _same(fast, general)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "hi"}], "temperature": None},  # not passed
        {"messages": [{"role": "user", "content": "hi"}], "stream": 1},  # no stream there
        {"messages": [{"role": "user", "content": "hi"}], "temperature": "0.5"},  # coerced
        {"messages": [{"role": "user", "content": "hi"}], "vendor": 1},  # extra_body
        {"messages": [{"role": "user", "content": "hi"}], "extra_body": {"a": 1}},
        {"messages": [{"role": "user", "content": "hi"}], "timeout": 5},
        {"messages": []},  # refused: the general way names the problem
    ],
)
def test_a_body_the_short_way_cannot_vouch_for_goes_the_general_way(body: dict[str, Any]) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    assert parsed_request(content) is None


def test_a_body_that_is_no_json_goes_the_general_way() -> None:
    assert parsed_request(b"") is None
    assert parsed_request(b'{"messages": [') is None


@pytest.mark.anyio
async def test_the_endpoint_gets_the_same_body_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a real server: the body the endpoint receives is the same whether the drop-in
    took the short way or (short way switched off) the general one."""
    taken: list[bool] = []
    real = wire.parsed_request

    def spy(content: bytes) -> ChatRequest | None:
        request = real(content)
        taken.append(request is not None)
        return request

    kwargs: dict[str, Any] = {
        "model": "m", "messages": [{"role": "user", "content": "héllo"}], "temperature": 0.5,
        "max_tokens": 7, "tools": [{"type": "function", "function": {"name": "f"}}],
    }  # fmt: skip
    bodies = []
    for short in (True, False):
        monkeypatch.setattr(
            "deepseek_resilient._dropin.engine.parsed_request",
            spy if short else (lambda content: None),
        )
        with FaultServer() as server:
            server.script(Ok("hello"))
            async with AsyncOpenAI(base_url=server.base_url, api_key="sk-x", local=False) as client:
                answer = await client.chat.completions.create(**kwargs)
            assert answer.choices[0].message.content == "hello"
            bodies.append(server.requests[0].body)
    assert taken == [True]
    assert bodies[0] == bodies[1]
