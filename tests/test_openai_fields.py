"""Our response models have every field of openai-python's, checked field by field and
recursively against openai's own pydantic models, so code written for openai (llama-index
reads ``message.audio``, pydantic-ai ``chunk.service_tier``...) finds each attribute: ``None``
when the provider did not send it. And our JSON is openai's: parsed by openai's models and
back, nothing changes (DeepSeek's extra fields included)."""

from __future__ import annotations

import copy
import inspect
import typing
from typing import Any

import pytest
from _support import USER
from pydantic import BaseModel

from deepseek_resilient import ChatCompletion, ChatCompletionChunk
from deepseek_resilient.testing import FaultServer, Ok, testing_client

openai_chat = pytest.importorskip("openai.types.chat")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (through Optional, List, Union, Annotated)."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _models_in(arg) if m not in found]
    return found


def _walk(
    theirs: type[BaseModel], ours: type[BaseModel], path: str, seen: set[type[BaseModel]]
) -> list[str]:
    """Every problem found comparing openai's model ``theirs`` with ``ours``, recursively."""
    if theirs in seen:
        return []
    seen.add(theirs)
    problems: list[str] = []
    for name, field in theirs.model_fields.items():
        where = f"{path}.{name}"
        mine = ours.model_fields.get(name)
        if mine is None:
            problems.append(f"{where}: {ours.__name__} has no field {name!r}")
            continue
        if not field.is_required() and (
            mine.is_required() or mine.get_default(call_default_factory=True) is not None
        ):
            problems.append(f"{where}: optional in openai, so ours must default to None")
        subs = _models_in(field.annotation)
        if not subs:
            continue
        nested = _models_in(mine.annotation)
        if len(nested) != 1:
            problems.append(f"{where}: openai's is a model, ours is {mine.annotation}")
            continue
        for sub in subs:  # every member of a union (function / custom tool call, ...)
            problems += _walk(sub, nested[0], where, seen)
    return problems


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        pytest.param(openai_chat.ChatCompletion, ChatCompletion, id="ChatCompletion"),
        pytest.param(openai_chat.ChatCompletionChunk, ChatCompletionChunk, id="Chunk"),
    ],
)
def test_every_openai_field_is_ours_too(theirs: type[BaseModel], ours: type[BaseModel]) -> None:
    seen: set[type[BaseModel]] = set()
    problems = _walk(theirs, ours, ours.__name__, seen)
    assert not problems, "\n".join(problems)
    assert len(seen) >= 15  # the walk went deep: choices, message, tool calls, usage, ...


def test_the_walk_notices_a_missing_field() -> None:
    class Thin(BaseModel):
        id: str = ""

    problems = _walk(openai_chat.ChatCompletion, Thin, "Thin", set())
    assert "Thin.choices: Thin has no field 'choices'" in problems


_LOGPROB = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}
_MODERATION = {
    "input": {
        "type": "moderation_results",
        "model": "omni-moderation",
        "results": [
            {
                "type": "moderation_result",
                "model": "omni-moderation",
                "flagged": False,
                "categories": {"hate": False},
                "category_scores": {"hate": 0.01},
                "category_applied_input_types": {"hate": ["text"]},
            }
        ],
    },
    "output": {"type": "error", "code": "timeout", "message": "not moderated in time"},
}
_USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 4,
    "total_tokens": 13,
    "prompt_cache_hit_tokens": 5,  # DeepSeek's
    "prompt_cache_miss_tokens": 4,
    "completion_tokens_details": {
        "reasoning_tokens": 1,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
        "audio_tokens": 0,
        "text_tokens": 4,
    },
    "prompt_tokens_details": {
        "cached_tokens": 5,
        "audio_tokens": 0,
        "cache_write_tokens": 0,
        "image_tokens": 0,
        "text_tokens": 9,
    },
}
FULL_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "deepseek-flash",
    "service_tier": "default",
    "system_fingerprint": "fp_1",
    "metadata": {"team": "a"},
    "moderation": _MODERATION,
    "usage": _USAGE,
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": {"content": [_LOGPROB], "refusal": None},
            "message": {
                "role": "assistant",
                "content": "Hi",
                "reasoning_content": "think",  # DeepSeek's
                "refusal": None,
                "annotations": [
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "start_index": 0,
                            "end_index": 2,
                            "title": "t",
                            "url": "u",
                        },
                    }
                ],
                "audio": {
                    "id": "au_1",
                    "data": "AAAA",
                    "expires_at": 1700003600,
                    "transcript": "Hi",
                },
                "function_call": {"name": "legacy", "arguments": "{}"},
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "c2", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
                ],
            },
        }
    ],
}
FULL_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "deepseek-flash",
    "service_tier": "flex",
    "system_fingerprint": "fp_1",
    "obfuscation": "xyz",
    "moderation": _MODERATION,
    "usage": _USAGE,
    "choices": [
        {
            "index": 0,
            "finish_reason": None,
            "logprobs": {"content": [_LOGPROB], "refusal": [_LOGPROB]},
            "delta": {
                "role": "assistant",
                "content": "Hi",
                "reasoning_content": "think",
                "refusal": "no",
                "audio": {"id": "au_1", "data": "AA", "expires_at": 1, "transcript": "H"},
                "function_call": {"name": "legacy", "arguments": "{"},
                "tool_calls": [
                    {"index": 0, "id": "c1", "type": "function", "function": {"name": "f"}}
                ],
            },
        }
    ],
}


@pytest.mark.parametrize(
    ("ours", "theirs", "sample"),
    [
        pytest.param(ChatCompletion, "ChatCompletion", FULL_COMPLETION, id="completion"),
        pytest.param(ChatCompletionChunk, "ChatCompletionChunk", FULL_CHUNK, id="chunk"),
    ],
)
def test_our_json_parses_as_openais_and_back_unchanged(
    ours: type[ChatCompletion], theirs: str, sample: dict[str, Any]
) -> None:
    mine = ours.model_validate(copy.deepcopy(sample))
    assert mine.to_dict(mode="json") == sample  # nothing dropped, nothing added
    parsed = getattr(openai_chat, theirs).model_validate_json(mine.to_json())
    assert parsed.to_dict(mode="json") == sample  # openai reads all of it (extras kept)
    back = ours.model_validate_json(parsed.to_json())
    assert back.to_dict(mode="json") == sample


def test_absent_fields_read_as_none_through_the_client(llm_server: FaultServer) -> None:
    llm_server.script(Ok("hi", extra={"service_tier": "default"}), Ok("hi"))
    with testing_client(llm_server) as client:
        resp = client.chat.completions.create(messages=USER)
        with client.chat.completions.create(messages=USER, stream=True) as stream:
            chunks = list(stream)
    message = resp.choices[0].message
    assert resp.service_tier == "default" and resp.moderation is None and resp.metadata is None
    assert message.content == "hi"
    assert (message.refusal, message.audio, message.annotations, message.function_call) == (
        None,
        None,
        None,
        None,
    )
    assert "refusal" not in message.to_dict()  # the wire shape stays what was sent
    for chunk in chunks:
        assert chunk.service_tier is None and chunk.obfuscation is None
        for choice in chunk.choices:
            delta = choice.delta
            assert (delta.refusal, delta.audio, delta.function_call) == (None, None, None)
