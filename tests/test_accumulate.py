"""Chunks to a completion (accumulate) and back (completion_to_chunks)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepseek_resilient._core.errors import InvalidResponseError
from deepseek_resilient._models import ChatCompletion, ChatCompletionChunk
from deepseek_resilient._streaming.accumulate import Accumulator, accumulate, completion_to_chunks


def chunk(*choices: dict[str, Any], **top: Any) -> ChatCompletionChunk:
    body: dict[str, Any] = {"id": "c1", "created": 5, "model": "deepseek-reasoner"}
    body.update(top)
    body["choices"] = list(choices)
    return ChatCompletionChunk.model_validate(body)


def ch(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def test_deepseek_reasoner_stream_merges_reasoning_and_content() -> None:
    chunks = [
        chunk(ch(role="assistant", content=None, reasoning_content=""), system_fingerprint="fp"),
        chunk(ch(reasoning_content="Think"), id="other-id", model="other", created=9),
        chunk(ch(reasoning_content="ing.")),
        chunk(ch(content="Hel")),
        chunk(ch(content="lo")),
        chunk(ch(finish="stop", content=""), usage={"prompt_tokens": 3, "total_tokens": 7}),
    ]
    done = accumulate(chunks)
    msg = done.choices[0].message
    assert (msg.role, msg.reasoning_content, msg.content) == ("assistant", "Thinking.", "Hello")
    assert msg.tool_calls is None
    assert done.choices[0].finish_reason == "stop"
    assert (done.id, done.model, done.created) == ("c1", "deepseek-reasoner", 5)
    assert done.system_fingerprint == "fp"
    assert done.object == "chat.completion"
    assert done.usage is not None and done.usage.total_tokens == 7


def test_content_stays_none_when_never_sent() -> None:
    done = accumulate([chunk(ch(role="assistant")), chunk(ch(finish="length"))])
    assert done.choices[0].message.content is None
    assert done.choices[0].message.reasoning_content is None
    assert done.choices[0].finish_reason == "length"


def test_tool_calls_merged_by_index_interleaved_and_set_once_fields() -> None:
    def tc(index: int, **kw: Any) -> dict[str, Any]:
        return {"index": index, **kw}

    chunks = [
        chunk(ch(role="assistant", content="")),
        chunk(
            ch(
                tool_calls=[
                    tc(0, id="call_a", type="function", function={"name": "get", "arguments": ""})
                ]
            )
        ),
        chunk(ch(tool_calls=[tc(1, id="call_b", type="function", function={"name": "put"})])),
        chunk(ch(tool_calls=[tc(0, function={"arguments": '{"ci'})])),
        # some servers repeat id/type/name on every delta: they must not be doubled
        chunk(
            ch(tool_calls=[tc(1, id="call_b", type="function", function={"name": "put"})]),
        ),
        chunk(ch(tool_calls=[tc(1, function={"arguments": "{}"})])),
        chunk(ch(tool_calls=[tc(0, function={"arguments": 'ty": "Paris"}'})])),
        chunk(ch(finish="tool_calls")),
    ]
    msg = accumulate(chunks).choices[0].message
    assert msg.content == ""
    assert msg.tool_calls is not None
    assert [c.to_dict() for c in msg.tool_calls] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get", "arguments": '{"city": "Paris"}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "put", "arguments": "{}"}},
    ]


def test_tool_call_deltas_without_index() -> None:
    chunks = [
        chunk(ch(tool_calls=[{"id": "a", "function": {"name": "f", "arguments": "{"}}])),
        chunk(ch(tool_calls=[{"function": {"arguments": "}"}}])),
        chunk(ch(tool_calls=[{"id": "b", "function": {"name": "g", "arguments": "[]"}}])),
    ]
    calls = accumulate(chunks).choices[0].message.tool_calls
    assert calls is not None
    assert [c.to_dict() for c in calls] == [
        {"id": "a", "function": {"name": "f", "arguments": "{}"}},
        {"id": "b", "function": {"name": "g", "arguments": "[]"}},
    ]


def test_multiple_choices_interleaved_sorted_by_index() -> None:
    chunks = [
        chunk(ch(1, content="B1"), ch(0, content="A1")),
        chunk(ch(0, content="A2")),
        chunk(ch(1, finish="stop", content="B2")),
        chunk(ch(0, finish="length")),
    ]
    done = accumulate(chunks)
    got = [(c.index, c.message.content, c.finish_reason) for c in done.choices]
    assert got == [(0, "A1A2", "length"), (1, "B1B2", "stop")]


def test_finish_reason_last_non_null_and_usage_last_carrying_one() -> None:
    chunks = [
        chunk(ch(content="a"), usage={"total_tokens": 1}),
        chunk(ch(finish="stop")),
        chunk(ch(finish=None)),
        chunk(usage={"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}),
        chunk(),
    ]
    done = accumulate(chunks)
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.total_tokens == 5


def test_logprobs_lists_concatenated() -> None:
    a = {"token": "a", "logprob": -0.1}
    b = {"token": "b", "logprob": -0.2}
    chunks = [
        chunk({"index": 0, "delta": {"content": "a"}, "logprobs": {"content": [a]}}),
        chunk({"index": 0, "delta": {"content": "b"}, "logprobs": {"content": [b]}}),
    ]
    logprobs = accumulate(chunks).choices[0].logprobs
    assert logprobs is not None
    assert logprobs.to_dict() == {"content": [a, b]}


def test_unknown_fields_are_kept() -> None:
    chunks = [
        chunk({"index": 0, "delta": {"note": "I ", "blob": {"id": 1}}, "extra_c": 1}, meta=1),
        chunk({"index": 0, "delta": {"note": "can't", "blob": None}, "extra_c": 2}, meta=2),
    ]
    done = accumulate(chunks)
    assert done.model_extra == {"meta": 1}
    assert done.choices[0].model_extra == {"extra_c": 2}
    assert done.choices[0].message.model_extra == {"note": "I can't", "blob": {"id": 1}}


def test_refusal_audio_and_legacy_function_call_are_merged() -> None:
    audio = [{"id": "au", "data": "AAA", "transcript": "Hel"}, {"data": "BBB", "transcript": "lo"}]
    chunks = [
        chunk(
            {"index": 0, "delta": {"refusal": "I ", "audio": audio[0]}},
            service_tier="default",
            obfuscation="x1",
        ),
        chunk(
            {"index": 0, "delta": {"refusal": "can't", "audio": audio[1]}},
            service_tier="flex",
            obfuscation="x2",
        ),
        chunk(ch(function_call={"name": "f", "arguments": '{"a"'})),
        chunk(ch(finish="function_call", function_call={"arguments": ": 1}"})),
    ]
    done = accumulate(chunks)
    message = done.choices[0].message
    assert message.refusal == "I can't"
    assert message.audio is not None
    assert (message.audio.id, message.audio.data, message.audio.transcript) == (
        "au",
        "AAABBB",
        "Hello",
    )
    assert message.function_call is not None
    assert (message.function_call.name, message.function_call.arguments) == ("f", '{"a": 1}')
    assert done.service_tier == "default"  # the first chunk's
    assert "obfuscation" not in done.to_dict()  # per-chunk padding, not part of the answer
    again = accumulate(completion_to_chunks(done))
    assert again.model_dump() == done.model_dump()


def test_empty_chunk_list_is_invalid_response() -> None:
    with pytest.raises(InvalidResponseError):
        accumulate([])
    with pytest.raises(InvalidResponseError):
        accumulate(iter(()))


def test_no_choices_gives_one_empty_unfinished_message() -> None:
    done = accumulate([chunk(usage={"total_tokens": 2})])
    assert len(done.choices) == 1
    assert done.choices[0].message.content == ""
    assert done.choices[0].finish_reason is None
    assert done.usage is not None and done.usage.total_tokens == 2


def test_accumulate_does_not_share_state_with_chunks() -> None:
    fn = {"name": "f", "arguments": "{"}
    call = {"index": 0, "id": "a", "function": fn}
    first = chunk(ch(tool_calls=[call]))
    accumulate([first, chunk(ch(tool_calls=[{"index": 0, "function": {"arguments": "}"}}]))])
    assert [c.to_dict() for c in first.choices[0].delta.tool_calls or []] == [call]
    assert fn["arguments"] == "{"  # pydantic keeps nested dicts by reference: not mutated


def test_completion_to_chunks_shape() -> None:
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "created": 3,
            "model": "m",
            "system_fingerprint": "fp",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi", "reasoning_content": "r"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    )
    chunks = completion_to_chunks(completion)
    assert not chunks[0].has_content  # the role chunk is not progress
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.has_content for c in chunks] == [False, True, True, False]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage == completion.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert all((c.id, c.model, c.created) == ("x", "m", 3) for c in chunks)
    assert accumulate(chunks) == completion


# ----------------------------------------------------------------------------- property

_text = st.text(max_size=30)
_opt_text = st.none() | _text
_tool_call = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=10),
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=10), "arguments": _text}
        ),
    }
)
_message = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": _opt_text, "reasoning_content": _opt_text},
    optional={
        "tool_calls": st.lists(_tool_call, min_size=1, max_size=3),
        "refusal": _opt_text,
        "audio": st.fixed_dictionaries({"id": _text, "data": _text, "transcript": _text}),
        "function_call": st.fixed_dictionaries({"name": _text, "arguments": _text}),
        "annotations": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("url_citation"),
                    "url_citation": st.fixed_dictionaries(
                        {"url": _text, "title": _text, "start_index": st.integers(0, 9)}
                    ),
                }
            ),
            max_size=2,
        ),
    },
)
_logprobs = st.none() | st.fixed_dictionaries(
    {
        "content": st.lists(
            st.fixed_dictionaries({"token": _text, "logprob": st.floats(-5, 0)}), max_size=3
        )
    }
)
_usage = st.none() | st.fixed_dictionaries(
    {
        "prompt_tokens": st.integers(0, 10**6),
        "completion_tokens": st.integers(0, 10**6),
        "total_tokens": st.integers(0, 10**6),
    },
    optional={"prompt_cache_hit_tokens": st.integers(0, 10**6)},
)


@st.composite
def completions(draw: st.DrawFn) -> ChatCompletion:
    n = draw(st.integers(1, 3))
    choices = [
        {
            "index": i,
            "message": draw(_message),
            "finish_reason": draw(st.none() | st.sampled_from(["stop", "length", "tool_calls"])),
            "logprobs": draw(_logprobs),
        }
        for i in range(n)
    ]
    return ChatCompletion.model_validate(
        {
            "id": draw(st.text(min_size=1, max_size=10)),
            "created": draw(st.integers(0, 2**31)),
            "model": draw(_text),
            "choices": choices,
            "usage": draw(_usage),
            "system_fingerprint": draw(_opt_text),
            "service_tier": draw(st.none() | st.sampled_from(["default", "flex"])),
        }
    )


@given(completions())
def test_completion_to_chunks_then_accumulate_roundtrips(completion: ChatCompletion) -> None:
    chunks = completion_to_chunks(completion)
    back = accumulate(chunks)
    assert back.model_dump() == completion.model_dump()
    for got, want in zip(back.choices, completion.choices):
        assert got.message.content == want.message.content
        assert got.message.reasoning_content == want.message.reasoning_content
        assert got.message.tool_calls == want.message.tool_calls
        assert got.finish_reason == want.finish_reason
    assert back.usage == completion.usage
    # the chunks survive the wire: JSON out, JSON in, same completion
    rewired = [ChatCompletionChunk.model_validate_json(c.model_dump_json()) for c in chunks]
    assert accumulate(rewired).model_dump() == completion.model_dump()


# ------------------------------------------- the answer validated whole, as built part by part


def _built_by_parts(acc: Accumulator) -> ChatCompletion:
    """The answer as ``Accumulator.result`` built it before: a model per message and choice
    (the reference that validating it whole must match)."""
    from deepseek_resilient._models import (
        ChatCompletionMessage,
        ChatCompletionMessageToolCall,
        Choice,
        ChoiceLogprobs,
    )
    from deepseek_resilient._streaming.accumulate import _own_copy, _unknown
    from deepseek_resilient._streaming.merge import COMPLETION_BUILT, MESSAGE_BUILT, without

    choices = []
    for i in sorted(acc._states):
        s = acc._states[i]
        calls = [ChatCompletionMessageToolCall.model_validate(s.tool_calls[k])
                 for k in sorted(s.tool_calls)]  # fmt: skip
        message = ChatCompletionMessage(
            role="assistant",
            content=None if s.content is None else "".join(s.content),
            reasoning_content=None if s.reasoning is None else "".join(s.reasoning),
            tool_calls=calls or None,
            **without(s.delta_extra, MESSAGE_BUILT),
        )
        logprobs = None if s.logprobs is None else ChoiceLogprobs.model_validate(s.logprobs)
        choices.append(Choice(index=i, message=message, finish_reason=s.finish_reason,
                              logprobs=logprobs, **_unknown(s.choice_extra, Choice)))  # fmt: skip
    if not choices:
        choices = [Choice(index=0, message=ChatCompletionMessage(content=""))]
    assert acc._first is not None
    cid, created, model = acc._first
    return ChatCompletion(
        id=cid, created=created, model=model, choices=choices,
        usage=_own_copy(acc._usage) if acc._usage is not None else None,
        system_fingerprint=acc._fingerprint, **without(acc._top_extra, COMPLETION_BUILT),
    )  # fmt: skip


def _shape(model: Any) -> Any:
    """A model's values, which fields were set and its extras, all the way down."""
    if isinstance(model, list):
        return [_shape(m) for m in model]
    if not hasattr(model, "model_fields_set"):
        return model
    fields = {name: _shape(getattr(model, name)) for name in type(model).model_fields}
    return (type(model).__name__, fields, sorted(model.model_fields_set), model.model_extra)


def _same_as_built_by_parts(chunks: list[ChatCompletionChunk]) -> None:
    acc = Accumulator()
    for c in chunks:
        acc.add(c)
    got, want = acc.result(), _built_by_parts(acc)
    assert got == want
    assert _shape(got) == _shape(want)
    assert got.to_dict() == want.to_dict()


@given(completions())
def test_the_answer_validated_whole_is_the_one_built_part_by_part(
    completion: ChatCompletion,
) -> None:
    _same_as_built_by_parts(completion_to_chunks(completion))


def test_the_answer_validated_whole_keeps_extras_and_empty_choices_as_before() -> None:
    extra = chunk(ch(content="a", refusal="no", custom={"k": 1}, audio={"id": "x", "data": "d"}),
                  service_tier="flex", provider="p", obfuscation="zz")  # fmt: skip
    extra_choice = chunk({"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": 7})
    _same_as_built_by_parts([extra, extra_choice])
    _same_as_built_by_parts([chunk()])  # no choice at all
    tool = {"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": "{"}}
    more = {"index": 0, "function": {"arguments": "}"}}
    _same_as_built_by_parts([chunk(ch(tool_calls=[tool])), chunk(ch(tool_calls=[more]))])
