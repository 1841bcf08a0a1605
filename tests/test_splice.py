"""The splice of a recovered stream onto a broken one, as a unit: a restart passes on only
what extends the delivered text (or raises ``Diverged``), a continuation follows on directly;
and ``committed_attempt`` finds the attempt that committed. No sockets, no time: these are the
tests ``tools/mutation.sh splice`` runs."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepseek_resilient import ChatCompletionChunk
from deepseek_resilient._models import Attempt, Route
from deepseek_resilient._streaming.splice import Diverged, Splice, committed_attempt, failed_attempt

_Splice = Splice


def _pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


def _chunk(content: str) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {"id": "new", "choices": [{"delta": {"content": content}}]}
    )


def _finished() -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {"id": "new", "choices": [{"delta": {}, "finish_reason": "stop"}]}
    )


@given(st.text(min_size=1, max_size=40), st.integers(0, 40), st.lists(st.integers(0, 40)))
def test_a_restart_repeating_the_answer_emits_exactly_the_rest(
    answer: str, at: int, cuts: list[int]
) -> None:
    """Whatever the chunking of the new answer, what passes the splice is the delivered text's
    continuation, once: delivered + emitted == the answer."""
    delivered = answer[: at % (len(answer) + 1)]
    splice = _Splice("restart", "first", delivered, "")
    emitted = []
    for piece in _pieces(answer, cuts):
        fitted = splice.fit(_chunk(piece))
        if fitted is not None:
            assert fitted.id == "first"
            emitted.append(fitted.choices[0].delta.content or "")
    assert delivered + "".join(emitted) == answer


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_a_restart_that_diverges_never_emits_anything(delivered: str, other: str) -> None:
    if other.startswith(delivered) or delivered.startswith(other):
        return
    splice = _Splice("restart", "first", delivered, "")
    with pytest.raises(Diverged):  # the two texts differ at some character: it is found
        for piece in _pieces(other, [3, 7]):
            assert splice.fit(_chunk(piece)) is None  # only repeats pass silently


@pytest.mark.parametrize(
    ("delivered", "pieces"),
    [
        ("hello world", ["hello", " there"]),  # differs inside a chunk
        ("hello world", ["hello wor"]),  # then ends short of what was delivered
        ("abc", ["abd"]),
    ],
)
def test_a_diverging_or_shorter_restart_raises_diverged(delivered: str, pieces: list[str]) -> None:
    splice = _Splice("restart", "first", delivered, "")
    with pytest.raises(Diverged):
        for piece in pieces:
            splice.fit(_chunk(piece))
        splice.fit(_finished())


def _multi(*deltas: dict[str, Any]) -> ChatCompletionChunk:
    choices = [{"index": i, "delta": d} for i, d in enumerate(deltas)]
    return ChatCompletionChunk.model_validate({"id": "new", "choices": choices})


def test_a_continuation_drops_reasoning_and_roles_in_every_choice() -> None:
    splice = _Splice("continue", "first", "", "thought")  # nothing held back from the prefix
    fitted = splice.fit(
        _multi(
            {"role": "assistant", "content": " more", "reasoning_content": "again"},
            {"role": "assistant", "content": " other", "reasoning_content": "too"},
        )
    )
    assert fitted is not None and fitted.id == "first"
    deltas = [c.delta for c in fitted.choices]
    assert [d.content for d in deltas] == [" more", " other"]  # nothing skipped
    assert [d.role for d in deltas] == [None, None]
    assert [d.reasoning_content for d in deltas] == [None, None]


def test_a_restart_drops_reasoning_that_comes_after_delivered_content() -> None:
    splice = _Splice("restart", "first", "abc", "")
    fitted = splice.fit(_multi({"role": "assistant", "content": "abcd", "reasoning_content": "x"}))
    assert fitted is not None
    delta = fitted.choices[0].delta
    assert (delta.content, delta.reasoning_content, delta.role) == ("d", None, None)


def test_the_committed_attempt_is_the_last_ok_one_of_that_provider() -> None:
    def route(*attempts: tuple[str, str]) -> Route:
        return Route(attempts=[Attempt(provider=p, outcome=o) for p, o in attempts])  # type: ignore[arg-type]

    assert committed_attempt(route(("a", "ok"), ("b", "error")), "a") == 0
    assert committed_attempt(route(("a", "ok"), ("b", "ok")), "a") == 0
    assert committed_attempt(route(("a", "ok"), ("a", "error"), ("a", "ok")), "a") == 2
    assert committed_attempt(route(("a", "error"), ("b", "ok")), "a") is None
    assert committed_attempt(route(), "a") is None


def _delta(**delta: Any) -> ChatCompletionChunk:
    return _multi(delta)


def test_a_restart_skips_the_delivered_reasoning_then_passes_the_rest() -> None:
    splice = _Splice("restart", "first", "", "think hard")
    assert splice.fit(_delta(role="assistant", reasoning_content="think ")) is None
    fitted = splice.fit(_delta(reasoning_content="hard, then more"))
    assert fitted is not None and fitted.choices[0].delta.reasoning_content == ", then more"
    fitted = splice.fit(_delta(content="answer"))
    assert fitted is not None and fitted.choices[0].delta.content == "answer"


@pytest.mark.parametrize(
    "delta",
    [
        {"reasoning_content": "think soft"},  # different reasoning
        {"content": "an answer"},  # content where the old answer was still reasoning
    ],
)
def test_a_restart_with_other_reasoning_diverges(delta: dict[str, Any]) -> None:
    splice = _Splice("restart", "first", "", "think hard")
    with pytest.raises(Diverged):
        splice.fit(_delta(**delta))


def test_what_a_splice_passes_on_without_new_text() -> None:
    splice = _Splice("restart", "first", "abc", "")
    assert splice.fit(_chunk("abc")) is None  # only repeats: nothing to pass on
    assert splice.fit(_delta()) is None  # an empty chunk
    finished = splice.fit(_finished())
    assert finished is not None and finished.choices[0].finish_reason == "stop"
    usage = ChatCompletionChunk.model_validate(
        {"id": "u", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                             "total_tokens": 3}}
    )  # fmt: skip
    assert splice.fit(usage) is usage and usage.id == "first"


def test_reasoning_to_skip_defaults_to_none() -> None:
    splice = Splice("restart", "first", "ab")
    fitted = splice.fit(_delta(content="abc"))
    assert fitted is not None and fitted.choices[0].delta.content == "c" and splice.verified


def test_a_failed_attempt_is_marked_in_the_route() -> None:
    route = Route(
        attempts=[Attempt(provider="a", outcome="ok"), Attempt(provider="b", outcome="ok")]
    )
    failed_attempt(route, 0, Diverged())
    failed_attempt(route, None, Diverged())  # nothing committed: nothing to mark
    first, second = route.attempts
    assert (first.outcome, first.error, first.status_code) == ("error", "Diverged", None)
    assert (second.outcome, second.error) == ("ok", None)

    class Status(Exception):
        status_code = 503

    failed_attempt(route, 1, Status())
    assert (route.attempts[1].outcome, route.attempts[1].error) == ("error", "Status")
    assert route.attempts[1].status_code == 503
