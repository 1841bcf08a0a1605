"""The HTTP provider reads a stream with ``ChunkReader`` in its own loop (no ``aiter_chunks``
generator between): over any events and any read boundaries it must give exactly the chunks,
skips and failure ``aiter_chunks`` gives over the same bytes."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deepseek_resilient import OpenAICompatible
from deepseek_resilient._core.errors import ProviderError
from deepseek_resilient._models import ChatCompletionChunk, ChatRequest
from deepseek_resilient._streaming.sse import SKIPPED_EVENT, ChunkReader, aiter_chunks

pytestmark = pytest.mark.anyio


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [choice], **extra}  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_EVENTS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo " * 400}),  # longer than the small event limit below
    _chunk({"reasoning_content": "hm"}, provider_extra=1),
    _chunk({}, "stop", usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
    b"data: [DONE]\n\n",
    b"data:  [DONE] \n\n",
    b"data: {not json\n\n",
    b'data: {"choices": 5}\n\n',
    b'data: {"error": {"message": "busy", "type": "server_error"}}\n\n',
    b'event: error\ndata: {"error": {"code": 429}}\n\n',
    b": keep-alive\n\n",
    b"event: ping\ndata: x\n\n",
    b"data: \n\n",
    b"data: a\r\n\r\n",
]


Outcome = tuple[list[object], tuple[str, str, object] | None]


class _Reads(httpx2.AsyncByteStream):
    def __init__(self, reads: Sequence[bytes]) -> None:
        self._reads = reads

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for read in self._reads:
            yield read


def _seen(chunk: ChatCompletionChunk | dict[str, Any]) -> object:
    if isinstance(chunk, dict):  # a plain chunk: the chunk model it stands for
        chunk = ChatCompletionChunk.model_validate(chunk)
    return "skipped" if chunk is SKIPPED_EVENT else chunk.model_dump(exclude_unset=True)


async def _outcome(chunks: AsyncIterator[Any]) -> Outcome:
    got: list[object] = []
    try:
        async for chunk in chunks:
            got.append(_seen(chunk))
    except ProviderError as exc:
        return got, (type(exc).__name__, str(exc), getattr(exc, "status_code", None))
    return got, None


async def _through_the_provider(reads: list[bytes], limit: int, plain: bool = False) -> Outcome:
    def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, headers=headers, stream=_Reads(reads))

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
        provider = OpenAICompatible(
            name="ds", base_url="http://test/v1", model="m", http_client=http,
            max_event_bytes=limit,
        )  # fmt: skip
        request = ChatRequest(messages=[{"role": "user", "content": "Hi"}], stream=True)
        read = provider.plain_stream if plain else provider.stream
        return await _outcome(read(request, idle_timeout=5.0))


async def _reads(reads: list[bytes]) -> AsyncIterator[bytes]:
    for read in reads:
        yield read


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_EVENTS), max_size=10),
    st.lists(st.integers(0, 2000), max_size=5),
    st.sampled_from([1024, 1024 * 1024]),
    st.booleans(),
)
async def test_the_providers_own_loop_reads_what_aiter_chunks_reads(
    events: list[bytes], cuts: list[int], limit: int, plain: bool
) -> None:
    """Plain chunks (``plain_stream``) included: each stands for the chunk it would be."""
    reads = _split(b"".join(events), cuts)
    want = await _outcome(aiter_chunks(_reads(reads), provider="ds", max_event_chars=limit))
    assert await _through_the_provider(reads, limit, plain) == want


async def test_chunks_before_a_failure_in_the_same_read_are_passed_on_first() -> None:
    read = _EVENTS[1] + b"data: {not json\n\n" * 3
    got, error = await _through_the_provider([read], 1024)
    assert len(got) == 3 and got[1:] == ["skipped", "skipped"]
    assert error is not None and error[0] == "InvalidResponseError"


class _GeneralOnly(ChunkReader):
    """``ChunkReader`` without its quick read of a read that is one whole data block."""

    def _quick(self, data: bytes) -> list[Any] | None:
        return None


def _read_all(reader: ChunkReader, reads: list[bytes]) -> Outcome:
    got: list[object] = []
    try:
        for read in reads:
            got += [_seen(c) for c in reader.feed(read)]
            if reader.stopped:
                break
        else:
            got += [_seen(c) for c in reader.end()]
        reader.raise_error()
    except ProviderError as exc:
        return got, (type(exc).__name__, str(exc), getattr(exc, "status_code", None))
    return got, None


_ODD = [
    _chunk({"content": "caf\xe9"}).replace(b"caf\\u00e9", b"caf\xe9"),  # raw UTF-8 text
    _chunk({"content": "x"}).replace(b'"x"', b'"\xff"'),  # invalid UTF-8: replaced
    b"data: " + json.dumps({"id": "c1", "choices": []}).encode() + b"\n\n",
    _chunk({"content": "a\rb"}).replace(b"\\r", b"\r"),  # a CR: a line end
    b'data: {"id": 5}\n\n',
    b"data:{}\n\n",
    b"data: [DONE]",  # no blank line yet
    b'data: {"id": "c1",\r"choices": []}\n\n',  # a CR between JSON tokens: a line end
    _chunk({}, "stop"),  # plain, finished
    b"event: error\n",  # a named event's first line, its data in the next read
    b"retry: 5\n",  # a field that belongs to the next event
    b"\xef\xbb\xbf" + _EVENTS[1],  # a BOM: dropped before any text, a field name's after
    b'data: {"id": "c1",\n',  # an event's first data line; the rest comes in the next read
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example([_EVENTS[1], _EVENTS[1], _ODD[6], _EVENTS[1], _EVENTS[5]], [], None, True)
@example([_EVENTS[1], _EVENTS[1], _ODD[6], _EVENTS[1], _EVENTS[5]], [], None, False)
@example([_EVENTS[1], _EVENTS[1], _ODD[8]], [], None, True)
@example([_EVENTS[1], _ODD[11], _EVENTS[5]], [], None, True)  # a BOM after a quick first read
@example([_ODD[11], _EVENTS[1], _EVENTS[5]], [], None, False)  # a BOM first
@example([_ODD[2][:3], _ODD[11], _EVENTS[5]], [], None, True)  # text before the BOM
@example([_EVENTS[1], _EVENTS[1], _ODD[7], _EVENTS[5]], [], None, True)
@example([_EVENTS[1], _ODD[9], _EVENTS[1], _EVENTS[5]], [], None, True)  # an error event, split
@example([_EVENTS[1], _ODD[10], _EVENTS[1], _EVENTS[5]], [], None, False)
@example([_EVENTS[1], _ODD[12], _EVENTS[1], _EVENTS[5]], [], None, True)  # data held
@given(
    st.lists(st.sampled_from(_EVENTS + _ODD), max_size=10),
    st.lists(st.integers(0, 2000), max_size=3),
    st.sampled_from([None, 64, 1024]),
    st.booleans(),
)
def test_a_read_of_one_whole_block_is_read_as_the_general_rules_read_it(
    events: list[bytes], cuts: list[int], limit: int | None, plain: bool
) -> None:
    """Reads mostly of one event each (the quick read's case), sometimes cut anywhere."""
    reads = events if not cuts else _split(b"".join(events), cuts)
    quick = ChunkReader("ds", limit, plain=plain)
    want = _read_all(_GeneralOnly("ds", limit, plain=plain), reads)
    assert _read_all(quick, reads) == want
    assert (quick.finished, quick.stopped) == (_state(reads, limit, plain))


def _state(reads: list[bytes], limit: int | None, plain: bool) -> tuple[bool, bool]:
    general = _GeneralOnly("ds", limit, plain=plain)
    _read_all(general, reads)
    return general.finished, general.stopped
