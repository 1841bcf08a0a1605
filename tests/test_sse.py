"""SSE decoding and the chat-chunk stream: spec cases, DeepSeek's keep-alives, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepseek_resilient._core.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    DeepSeekResilientError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidResponseError,
    RateLimitError,
    ServiceUnavailableError,
)
from deepseek_resilient._models import ChatCompletionChunk
from deepseek_resilient._streaming.sse import (
    SKIPPED_EVENT,
    SSEDecoder,
    SSEEvent,
    aiter_chunks,
    stream_error,
)

# ----------------------------------------------------------------------------- helpers


def decode(*reads: bytes) -> tuple[list[SSEEvent], SSEDecoder]:
    dec = SSEDecoder()
    events: list[SSEEvent] = []
    for r in reads:
        events.extend(dec.feed(r))
    events.extend(dec.flush())
    return events, dec


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


def chunk_json(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    delta: dict[str, Any] = {} if content is None else {"content": content}
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1738000000,
        "model": "deepseek-chat",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return json.dumps(body)


def sse(*datas: str) -> bytes:
    return b"".join(f"data: {d}\n\n".encode() for d in datas)


async def byte_source(parts: Sequence[bytes], *, then_fail: bool = False) -> AsyncIterator[bytes]:
    for p in parts:
        yield p
    if then_fail:
        raise AssertionError("read past the end of the stream")


async def collect(parts: Sequence[bytes], *, then_fail: bool = False) -> list[ChatCompletionChunk]:
    return [c async for c in aiter_chunks(byte_source(parts, then_fail=then_fail), provider="ds")]


DEEPSEEK_STREAM = (
    b": keep-alive\n\n: keep-alive\n\n"
    + sse(
        json.dumps(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "deepseek-chat",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            }
        ),
        chunk_json("Hel"),
    )
    + b": keep-alive\n\n"
    + sse(chunk_json("lo"), chunk_json("", "stop", usage={"total_tokens": 3}), "[DONE]")
)


# ----------------------------------------------------------------------------- SSEDecoder


def test_keepalive_then_content() -> None:
    events, dec = decode(b": keep-alive\n\n: keep-alive\n\ndata: hi\n\n")
    assert events == [SSEEvent(None, "hi", None, None)]
    assert dec.keepalives == 2


def test_keepalives_count_comments_and_bare_blank_lines_once() -> None:
    _, dec = decode(b": a\n: b\n\n\n\n")  # two comments, then two bare blank lines
    assert dec.keepalives == 4
    _, dec = decode(b": keep-alive\r\n\r\n")
    assert dec.keepalives == 1
    _, dec = decode(b"data: x\n\n")
    assert dec.keepalives == 0


def test_multi_line_data_joined_with_newline() -> None:
    events, _ = decode(b"data: line1\ndata: line2\ndata:\ndata:  two spaces\n\n")
    assert events == [SSEEvent(None, "line1\nline2\n\n two spaces", None, None)]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    raw = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    events, _ = decode(raw)
    assert events == [SSEEvent("e", "a\nb", None, None), SSEEvent(None, "c", None, None)]


def test_mixed_line_endings_and_crlf_split_across_reads() -> None:
    events, _ = decode(b"data: a\r", b"\n\r", b"\ndata: b\r\r")
    assert events == [SSEEvent(None, "a", None, None), SSEEvent(None, "b", None, None)]


def test_cr_then_lf_in_separate_reads_is_one_line_end_not_two() -> None:
    # If the split CRLF counted twice, "data: a" would be dispatched before "data: b".
    events, _ = decode(b"data: a\r", b"\ndata: b\r\n\r\n")
    assert events == [SSEEvent(None, "a\nb", None, None)]


def test_bom_stripped_once_even_when_split() -> None:
    events, _ = decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n")
    assert events == [SSEEvent(None, "x", None, None)]
    # A second BOM is not at the stream start: it is part of the field name, so ignored.
    events, _ = decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n")
    assert events == []


def test_field_parsing_rules() -> None:
    raw = (
        b"data\n"  # no colon: the field name is the whole line, value ""
        b"data:no-space\n"
        b"data:  keeps one space\n"
        b"foo: unknown field ignored\n"
        b"event: custom\n"
        b"id: 7\n"
        b"retry: 1500\n\n"
    )
    events, _ = decode(raw)
    assert events == [SSEEvent("custom", "\nno-space\n keeps one space", "7", 1500)]


def test_id_persists_retry_does_not_and_bad_values_ignored() -> None:
    raw = (
        b"id: 1\nretry: 10\ndata: a\n\ndata: b\n\nid: x\x00y\nretry: 1s\ndata: c\n\nid\ndata: d\n\n"
    )
    events, _ = decode(raw)
    assert events == [
        SSEEvent(None, "a", "1", 10),
        SSEEvent(None, "b", "1", None),
        SSEEvent(None, "c", "1", None),
        SSEEvent(None, "d", "", None),
    ]


def test_block_without_data_is_not_dispatched_and_resets_event_type() -> None:
    events, _ = decode(b"event: ping\n\ndata: x\n\n")
    assert events == [SSEEvent(None, "x", None, None)]


def test_flush_returns_pending_event_and_partial_line() -> None:
    events, _ = decode(b"data: a\n\ndata: b\ndata: c")
    assert events == [SSEEvent(None, "a", None, None), SSEEvent(None, "b\nc", None, None)]
    events, _ = decode(b": only a comment")
    assert events == []


def test_decoder_is_reusable_after_flush() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a") == []
    assert dec.flush() == [SSEEvent(None, "a", None, None)]
    assert dec.feed(b"data: b\n\n") == [SSEEvent(None, "b", None, None)]


def test_invalid_utf8_becomes_replacement_char_and_split_utf8_survives() -> None:
    events, _ = decode(b"data: \xff\n\n")
    assert events == [SSEEvent(None, "\ufffd", None, None)]
    snow = "data: ☃é\n\n".encode()
    assert decode(*[snow[i : i + 1] for i in range(len(snow))])[0] == [
        SSEEvent(None, "☃é", None, None)
    ]


def test_every_single_split_point_and_byte_by_byte_give_same_events() -> None:
    whole, _ = decode(DEEPSEEK_STREAM)
    assert len(whole) == 5
    for i in range(len(DEEPSEEK_STREAM) + 1):
        assert decode(DEEPSEEK_STREAM[:i], DEEPSEEK_STREAM[i:])[0] == whole, i
    one_by_one = [DEEPSEEK_STREAM[i : i + 1] for i in range(len(DEEPSEEK_STREAM))]
    assert decode(*one_by_one)[0] == whole


@given(cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_random_splits_give_same_events(cuts: list[int]) -> None:
    whole, _ = decode(DEEPSEEK_STREAM)
    assert decode(*split_at(DEEPSEEK_STREAM, cuts))[0] == whole


# ----------------------------------------------------------------------------- properties

SSE_ATOMS = st.sampled_from(
    [
        *(b"data:", b"data: ", b"event:", b"id:", b"retry:", b":", b" ", b"\r", b"\n", b"\r\n"),
        *(b"\xef\xbb\xbf", b"\x00", b"\xff", b"[DONE]", b"{", b"}", b'"error"', b"123"),
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.one_of(st.binary(max_size=40), SSE_ATOMS), max_size=40),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_decoder_never_raises_on_arbitrary_bytes(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    events, dec = decode(*split_at(data, cuts))
    assert all(isinstance(e, SSEEvent) and isinstance(e.data, str) for e in events)
    assert dec.keepalives >= 0


# Values that survive encoding: no CR/LF inside a line, no NUL in ids, no leading BOM.
_line = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=20
)
_name = _line.filter(lambda s: s != "")
_event = st.builds(
    SSEEvent,
    event=st.one_of(st.none(), _name),
    data=st.lists(_line, min_size=1, max_size=4).map("\n".join),
    id=st.one_of(st.none(), _line.filter(lambda s: "\x00" not in s)),
    retry=st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
)


def encode(events: list[SSEEvent], eol: str) -> bytes:
    out = []
    for e in events:
        if e.event is not None:
            out.append(f"event: {e.event}{eol}")
        if e.id is not None:
            out.append(f"id: {e.id}{eol}")
        if e.retry is not None:
            out.append(f"retry: {e.retry}{eol}")
        out.append(f": comment{eol}")
        out.extend(f"data: {line}{eol}" for line in e.data.split("\n"))
        out.append(eol)
    return "".join(out).encode()


@given(
    events=st.lists(_event, max_size=8),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_encode_then_decode_roundtrip_with_random_splits(
    events: list[SSEEvent], eol: str, cuts: list[int]
) -> None:
    # ids persist across events (spec), so the expected id is the last one sent so far.
    expected, last_id = [], None
    for e in events:
        last_id = e.id if e.id is not None else last_id
        expected.append(SSEEvent(e.event, e.data, last_id, e.retry))
    decoded, dec = decode(*split_at(encode(events, eol), cuts))
    assert decoded == expected
    assert dec.keepalives == len(events)  # one comment line per event


# ----------------------------------------------------------------------------- aiter_chunks


@pytest.mark.anyio
async def test_chunks_from_deepseek_stream_keepalives_yield_nothing() -> None:
    chunks = await collect([DEEPSEEK_STREAM], then_fail=True)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Hel", "lo", ""]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 3


@pytest.mark.anyio
async def test_only_keepalives_then_eof_is_connection_error_not_progress() -> None:
    with pytest.raises(APIConnectionError, match=r"without \[DONE\]") as info:
        await collect([b": keep-alive\n\n"] * 50)
    assert info.value.provider == "ds"
    assert type(info.value) is APIConnectionError


@pytest.mark.anyio
async def test_done_stops_without_reading_further() -> None:
    parts = [sse(chunk_json("a")), b"data: [DONE]\n\n", b"data: not json\n\n"]
    chunks = await collect(parts, then_fail=True)
    assert [c.choices[0].delta.content for c in chunks] == ["a"]


@pytest.mark.anyio
async def test_done_without_trailing_blank_line_at_eof() -> None:
    chunks = await collect([sse(chunk_json("a")) + b"data: [DONE]"])
    assert len(chunks) == 1


@pytest.mark.anyio
async def test_missing_done_before_finish_reason_is_connection_error() -> None:
    with pytest.raises(APIConnectionError, match=r"without \[DONE\]"):
        await collect([sse(chunk_json("a"), chunk_json("b"))])


@pytest.mark.anyio
async def test_missing_done_after_finish_reason_is_fine() -> None:
    chunks = await collect([sse(chunk_json("a"), chunk_json(None, "stop"))])
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.anyio
async def test_empty_body_is_connection_error() -> None:
    with pytest.raises(APIConnectionError):
        await collect([])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"message": "slow down", "code": 429}, RateLimitError, 429),
        ({"message": "slow down", "type": "rate_limit_exceeded"}, RateLimitError, 429),
        ({"message": "x", "type": "requests", "code": "rate_limit_exceeded"}, RateLimitError, 429),
        ({"message": "busy", "status": 503}, ServiceUnavailableError, 503),
        ({"message": "busy", "code": "503"}, ServiceUnavailableError, 503),
        ({"message": "busy", "type": "service_unavailable"}, ServiceUnavailableError, 503),
        ({"message": "oops", "type": "server_error"}, ServiceUnavailableError, 503),
        ({"message": "bad key", "code": 401}, AuthenticationError, 401),
        ({"message": "no money", "type": "insufficient_balance"}, InsufficientBalanceError, 402),
        ({"message": "too long", "type": "invalid_request_error"}, BadRequestError, 400),
        ({"message": "weird", "type": "something_new", "code": 1234}, InternalServerError, 500),
        ("plain string error", InternalServerError, 500),
    ],
)
async def test_error_event_maps_to_typed_error(
    error: object, cls: type[APIStatusError], status: int
) -> None:
    parts = [sse(chunk_json("partial")), sse(json.dumps({"error": error}))]
    with pytest.raises(cls) as info:
        await collect(parts, then_fail=True)
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.provider == "ds"
    assert info.value.body == {"error": error}
    if isinstance(error, dict):
        assert info.value.message == error["message"]


@pytest.mark.anyio
async def test_error_inside_a_chunk_openrouter_style_raises() -> None:
    data = chunk_json(None, "error", error={"code": 502, "message": "upstream died"})
    with pytest.raises(InternalServerError, match="upstream died") as info:
        await collect([sse(data)])
    assert info.value.status_code == 502


@pytest.mark.anyio
async def test_named_error_event_raises() -> None:
    raw = b'event: error\ndata: {"message": "overloaded", "type": "overloaded_error"}\n\n'
    with pytest.raises(ServiceUnavailableError, match="overloaded"):
        await collect([raw])
    with pytest.raises(InternalServerError, match="<html>"):
        await collect([b"event: error\ndata: <html>\n\n"])
    with pytest.raises(InternalServerError, match="the provider sent an error"):
        await collect([b"event: error\ndata: {}\n\n"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    ["not json", "{", '{"choices": []}', "[1, 2]", '"str"', "null", '{"id": 5}', '{"error": null}'],
)
async def test_non_chunk_data_is_invalid_response(data: str) -> None:
    """Fatal before any good event (the framing is wrong), or three in a row; one malformed
    event between good ones is skipped (``SKIPPED_EVENT`` marks it) and reading goes on."""
    with pytest.raises(InvalidResponseError) as info:
        await collect([sse(data, chunk_json("a"))], then_fail=True)
    assert info.value.provider == "ds"
    with pytest.raises(InvalidResponseError):
        await collect([sse(chunk_json("a"), data, data, data, chunk_json("b"))], then_fail=True)
    chunks = await collect([sse(chunk_json("a"), data, chunk_json("b", "stop"), "[DONE]")])
    assert chunks[1] is SKIPPED_EVENT
    assert [c.choices[0].delta.content for c in chunks if c is not SKIPPED_EVENT] == ["a", "b"]


@pytest.mark.anyio
async def test_empty_data_and_unknown_named_events_are_progress_free() -> None:
    raw = b"data:\n\ndata:   \n\nevent: ping\ndata: {}\n\n" + sse(chunk_json("x", "stop"), "[DONE]")
    chunks = await collect([raw])
    assert [c.choices[0].delta.content for c in chunks] == ["x"]


@pytest.mark.anyio
async def test_unknown_fields_in_chunks_are_kept() -> None:
    data = json.dumps(
        {
            "id": "c",
            "choices": [{"index": 0, "delta": {"content": "a", "new_delta": 1}, "x": 2}],
            "provider_meta": {"a": [1]},
        }
    )
    (chunk,) = await collect([sse(data, "[DONE]")])
    assert chunk.model_extra == {"provider_meta": {"a": [1]}}
    assert chunk.choices[0].model_extra == {"x": 2}
    assert chunk.choices[0].delta.model_extra == {"new_delta": 1}


@pytest.mark.anyio
async def test_byte_by_byte_stream_gives_same_chunks() -> None:
    whole = await collect([DEEPSEEK_STREAM])
    pieces = [DEEPSEEK_STREAM[i : i + 1] for i in range(len(DEEPSEEK_STREAM))]
    assert await collect(pieces) == whole


def test_stream_error_without_error_wrapper_and_odd_shapes() -> None:
    assert type(stream_error({"code": 429}, provider=None)) is RateLimitError
    assert type(stream_error({"error": {"code": True}}, provider=None)) is InternalServerError
    assert type(stream_error(["x"], provider="p")) is InternalServerError


@pytest.mark.anyio
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(
        st.one_of(
            st.binary(max_size=30),
            SSE_ATOMS,
            st.sampled_from(
                [
                    sse(chunk_json("a")),
                    sse(chunk_json(None, "stop")),
                    b"data: " + chunk_json("b").encode()[:20],
                    b'data: {"error": {"code": 429}}\n\n',
                    b"data: [DONE]\n\n",
                    b": keep-alive\n\n",
                ]
            ),
        ),
        max_size=20,
    )
)
async def test_aiter_chunks_raises_only_our_errors(parts: list[bytes]) -> None:
    try:
        chunks = await collect(parts)
    except DeepSeekResilientError:
        return
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)


def test_anyio_run_on_both_backends_smoke() -> None:
    # aiter_chunks has no backend-specific code; run once per backend without the plugin too.
    for backend in ("asyncio", "trio"):
        chunks = anyio.run(collect, [DEEPSEEK_STREAM], backend=backend)
        assert len(chunks) == 4


def _drip_cpu(size: int) -> float:
    """CPU seconds to decode one ``data:`` line of ``size`` characters fed a byte at a time
    (the best of three runs)."""
    import time

    payload = b"data: " + b"x" * size + b"\n\n"
    reads = [payload[i : i + 1] for i in range(len(payload))]
    best = float("inf")
    for _ in range(3):
        dec = SSEDecoder()
        started = time.process_time()
        events = [e for read in reads for e in dec.feed(read)]
        best = min(best, time.process_time() - started)
        assert [len(e.data) for e in events] == [size]
    return best


def test_dripped_line_decoding_grows_linearly_with_the_line() -> None:
    """8 times the line, about 8 times the CPU (quadratic: 64 times). A ratio, so it holds on
    a slow or instrumented interpreter too (the mutation-testing run)."""
    small, big = _drip_cpu(4 * 1024), _drip_cpu(32 * 1024)
    assert big < 24 * max(small, 1e-4), f"{small:.4f} s, then {big:.4f} s"


@pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in __import__("os").environ,
    reason="absolute CPU bound: the mutation run's instrumented copy is ~20x slower per call",
)
def test_a_long_line_dripped_a_byte_at_a_time_decodes_in_linear_time() -> None:
    """1 MiB of one ``data:`` line in 1-byte reads (a slow-drip server at the event cap): the
    line is assembled once at its end, not re-copied on every read. Quadratic assembly takes
    minutes here; linear takes well under a second of CPU even on a busy machine."""
    import time

    payload = b"data: " + b"x" * (1 << 20) + b"\n\n"
    reads = [payload[i : i + 1] for i in range(len(payload))]
    dec = SSEDecoder()
    events: list[SSEEvent] = []
    started = time.process_time()
    for read in reads:
        events += dec.feed(read)
    spent = time.process_time() - started
    assert [len(e.data) for e in events] == [1 << 20]
    assert spent < 1.0, f"{spent:.2f} s of CPU for a 1 MiB line"


def test_pending_counts_an_unterminated_line_fed_in_pieces() -> None:
    dec = SSEDecoder()
    for piece in (b"data: ab", b"cd", b"ef"):
        assert dec.feed(piece) == []
    assert dec.pending == len("data: abcdef")
    assert dec.feed(b"\n") == [] and dec.pending == len("abcdef") + 1
    (event,) = dec.feed(b"\n")
    assert event.data == "abcdef" and dec.pending == 0
    assert dec.feed(b"data: ta") == [] and dec.feed(b"il") == []
    assert [e.data for e in dec.flush()] == ["tail"] and dec.pending == 0
    assert dec.feed(b"data: a\r") == [] and dec.feed(b"bc") == []  # after a CR: no LF
    assert dec.pending == len("a") + 1 + len("bc")
    assert dec.feed(b"\n") == [] and dec.pending == len("a") + 1  # "bc": a field, ignored
    assert dec.feed(b"data: d\n") == [] and dec.pending == len("a") + 1 + len("d") + 1
    (event,) = dec.feed(b"\n")
    assert event.data == "a\nd" and dec.pending == 0


def test_keepalives_are_counted_from_the_first_read_and_after_each_event() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"\n") == [] and dec.keepalives == 1  # a bare blank line, first thing
    (event,) = dec.feed(b"data: x\n\n\n")  # the third line end closes an empty block
    assert event.data == "x" and dec.keepalives == 2


def test_a_decoder_is_reset_by_flush_and_reusable() -> None:
    dec = SSEDecoder()
    assert dec.feed(b": ping\n") == [] and dec.flush() == [] and dec.keepalives == 1
    assert dec.feed(b"\n") == [] and dec.keepalives == 2  # not a CRLF's LF, not the comment's
    assert dec.feed(b"data: a\r") == [] and dec.flush() == [SSEEvent(None, "a")]
    # a new stream: its BOM is stripped, and its first LF is a line end (the CR was forgotten)
    assert dec.feed(b"\xef\xbb\xbf\n") == [] and dec.keepalives == 3
    (event,) = dec.feed(b"data: b\n\n")
    assert event.data == "b"


def test_a_bom_after_the_start_is_kept() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a") == []
    (event,) = dec.feed(b"\xef\xbb\xbfb\n\n")
    assert event.data == "a\ufeffb"


def test_a_split_utf8_sequence_at_the_end_becomes_a_replacement_character() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\xe2\x82") == []
    assert [e.data for e in dec.flush()] == ["a\ufffd"]


def test_retry_values_of_19_digits_or_more_are_ignored() -> None:
    dec = SSEDecoder()
    (kept,) = dec.feed(b"retry: " + b"9" * 18 + b"\ndata: x\n\n")
    (ignored,) = dec.feed(b"retry: " + b"9" * 19 + b"\ndata: y\n\n")
    assert (kept.retry, ignored.retry) == (10**18 - 1, None)


def test_pending_counts_every_data_line_of_the_event() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: ab\ndata: cde\n") == []
    assert dec.pending == len("ab") + 1 + len("cde") + 1


class _GeneralOnly(SSEDecoder):
    """The decoder without its fast path for whole ``data: `` blocks."""

    def _data_blocks(self, text: str) -> list[str] | None:
        return None


_PIECES = [
    b"data: a\n\n", b"data: \xc3\xa9t\xc3\xa9\n\n", b"data:b\n\n", b"data:  c\n\n", b": ka\n\n",
    b"event: x\n", b"id: 7\n", b"retry: 5\n", b"\n", b"data: x\r\n\r\n", b"data: y\n",
    b"data: [DONE]\n\n", b"\xef\xbb\xbfdata: bom\n\n", b"data: \n\n",
]  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_PIECES), max_size=12),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_the_data_block_fast_path_gives_what_the_general_rules_give(
    pieces: list[bytes], cuts: list[int]
) -> None:
    reads = split_at(b"".join(pieces), cuts)
    fast, general = SSEDecoder(), _GeneralOnly()
    got = [e for r in reads for e in fast.feed(r)] + fast.flush()
    want = [e for r in reads for e in general.feed(r)] + general.flush()
    assert got == want and fast.keepalives == general.keepalives


@pytest.mark.anyio
@pytest.mark.parametrize("cut", [None, 3, 9])
async def test_an_event_of_exactly_the_limit_passes_one_more_character_fails(
    cut: int | None,
) -> None:
    async def longest(size: int) -> None:
        data = sse(chunk_json("é" * size), "[DONE]")
        parts = [data] if cut is None else [data[:cut], data[cut:]]
        limit = len(chunk_json("é" * 10))
        source = byte_source(parts)
        async for _ in aiter_chunks(source, provider="ds", max_event_chars=limit):
            pass

    await longest(10)
    with pytest.raises(InvalidResponseError, match="longer than"):
        await longest(11)


# Reads that end a block ("\n\n") while the decoder holds some state from an earlier read, or
# that hold something the whole-block shortcut must not take: each must decode exactly as the
# same bytes fed one at a time (a single byte never takes the shortcut).
_SHORTCUT_CASES = [
    (b"data: a\n\n",),
    (b"data: a\n\ndata: b\n\n",),
    (b"data:a\ndata: b\n\n",),
    (b"data: a\n", b"data: b\n\n"),
    (b"event: x\n", b"data: a\n\n"),
    (b"retry: 5\n", b"data: a\n\n"),
    (b"id: 7\n", b"data: a\n\n"),
    (b": c\n", b"data: a\n\n"),
    (b": c\n", b"\n\n"),
    (b"data: a\r", b"\ndata: b\n\n"),
    (b"data: a\r\ndata: b\n\n",),
    (b"data: a\rdata: b\n\n",),
    (b"da", b"ta: a\n\n"),
    (b"data: \xc3", b"\xa9\n\n"),
    (b"\xef\xbb\xbfdata: a\n\n",),
    (b"\xef\xbb", b"\xbfdata: a\n\n"),
    (b"data: \xff\n\n",),
    (b"data: 0\n\n", b"data: \xff\n\n"),  # started: the shortcut's own decoding
    (b"data: 0\n\n", b"data: a\rdata: b\n\n"),
    (b"event: e\ndata: a\n\n",),
    (b"id: 1\ndata: a\n\n", b"data: b\n\n"),
    (b":x\n\n", b"data: a\n\n"),
    (b"\n\n", b"data: a\n\n"),
    (b"data: a\n\n\n",),
    (b"data: a\n\n", b"data: b\n", b"\n"),
]


@pytest.mark.parametrize("reads", _SHORTCUT_CASES)
def test_whole_block_reads_decode_as_the_same_bytes_one_at_a_time(
    reads: tuple[bytes, ...],
) -> None:
    whole = b"".join(reads)
    events, dec = decode(*reads)
    expected, ref = decode(*(whole[i : i + 1] for i in range(len(whole))))
    assert events == expected
    assert (dec.keepalives, dec.pending) == (ref.keepalives, ref.pending)


def test_before_any_text_only_a_read_starting_with_text_starts_it() -> None:
    # ``between_events(read)`` before any text: a read starting with ASCII starts the text
    # (as decoding it would: no BOM to drop after that); a BOM, a non-ASCII byte or nothing
    # leave the decoder as it was.
    for read in (b"", b"\xef\xbb\xbfdata: x\n\n", b"\xc3\xa9"):
        decoder = SSEDecoder()
        assert not decoder.between_events(read)
        assert [e.data for e in decoder.feed(b"\xef\xbb\xbfdata: x\n\n")] == ["x"]  # dropped
    decoder = SSEDecoder()
    assert decoder.between_events(b"data: x\n\n")
    assert decoder.feed(b"\xef\xbb\xbfdata: x\n\n") == []  # a field named "\ufeffdata" now
