"""Recovering a committed stream that broke: the order of the candidates (``plan``), and the
check a candidate must pass before any of its text reaches the caller (``verify``).

- **Order.** The provider that broke is asked first, once: a continuation when it declares
  prefix completion and text was delivered, else a restart. After a stall (no data for the
  idle limit) it goes last instead: a provider that stalled is not waited on twice. A
  provider that breaks again at or before the point already reached, adding nothing, is
  *spent*: it is not asked again for this stream. The others follow in priority order, each
  with a continuation (if it declares prefix completion) and then a restart.
- **Restarts** are verified by repeating the delivered text: every chunk of it is read and
  dropped (``Splice``) before the first new one is passed on. A restart that diverges is
  ``Diverged``; one that breaks before it got past the delivered text added nothing.
- **Continuations** are verified too: a server that ignores the assistant prefix answers
  anew, and its text would be garbage after the delivered one. The prefix sent leaves out
  the delivered text's last word (:func:`held_back`); a continuation must write that tail
  again first (then dropped). A provider that passed this check once is trusted with the
  whole text (``trusted``): a sampled answer may pick another last word, which would fail a
  real continuation. There, and when nothing can be held back, :func:`fresh_answer` is the
  check. Nothing of a continuation is passed on before its check has decided.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

import anyio

from .._core.errors import APIConnectionError, APITimeoutError, ProviderError
from .._models import ChatCompletionChunk
from .opening import How, OpenedStream, is_finished
from .splice import Diverged, Splice
from .sse import SKIPPED_EVENT

__all__ = [
    "OPENING",
    "WINDOW",
    "Broken",
    "IgnoredPrefix",
    "RecoveryState",
    "fresh_answer",
    "held_back",
    "plan",
    "recorded_error",
    "verify",
]

#: How much of the delivered text's start a fresh answer is recognised by (characters).
OPENING = 32
#: An opening shorter than this is only looked for at the very start of a continuation (a
#: short one could turn up inside a real continuation by chance).
MIN_QUOTE = 12
#: How far into a continuation the delivered opening is looked for (characters after it).
WINDOW = 200
#: The longest tail held back from a continuation's prefix (characters).
MAX_TAIL = 32
_LAST_WORD = re.compile(r"\s+\S+\s*\Z")


class IgnoredPrefix(Exception):
    """A continuation that started a fresh answer instead of continuing the prefix."""


@dataclass(repr=False, eq=False)
class RecoveryState:
    """What one stream's recovery has learned so far (kept across its splices)."""

    #: Characters (content + reasoning) delivered when the stream last broke.
    reached: int = -1
    #: Providers (by position) that broke without adding anything: not asked again.
    spent: set[int] = field(default_factory=set)


@dataclass(repr=False, eq=False)
class Broken:
    """A committed stream that broke: what the caller has, and what broke it."""

    text: str
    reasoning: str
    failure: Exception
    #: The first stream's chunk id (spliced chunks keep it).
    chunk_id: str
    state: RecoveryState

    @property
    def at(self) -> int:
        return len(self.text) + len(self.reasoning)


def plan(broken: Broken, failed: int, prefix: Sequence[bool]) -> list[tuple[int, How]]:
    """The candidates, in order, for recovering ``broken`` (which provider ``failed``);
    ``prefix[i]``: provider ``i`` declares prefix completion. Updates ``broken.state``."""
    state = broken.state
    if broken.at <= state.reached:
        state.spent.add(failed)  # it broke again with nothing new: a failure of that provider
    state.reached = max(state.reached, broken.at)
    others = [i for i in range(len(prefix)) if i != failed]
    stalled = isinstance(broken.failure, APITimeoutError)
    order = [*others, failed] if stalled else [failed, *others]
    steps: list[tuple[int, How]] = []
    for i in order:
        if i in state.spent:
            continue
        if prefix[i] and broken.text:  # cut while only reasoning was sent: restart
            steps.append((i, "continue"))
        steps.append((i, "restart"))
    return steps


def held_back(delivered: str) -> str:
    """The tail of ``delivered`` a continuation is asked to write again: its last word with
    the whitespace around it (``" gamma "`` of ``"alpha beta gamma "``), at most ``MAX_TAIL``
    characters; empty when the text is a single word."""
    found = _LAST_WORD.search(delivered)
    if found is None or not delivered[: found.start()].strip():
        return ""
    return delivered[max(found.start(), len(delivered) - MAX_TAIL) :]


def fresh_answer(delivered: str, new: str, *, ended: bool) -> bool | None:
    """Whether ``new``, the opening of a continuation of ``delivered``, is a fresh answer:
    it repeats the start of the delivered text (its first ``OPENING`` characters, leading
    whitespace aside) at its own start, or quotes it within its first ``WINDOW`` characters
    (when that opening is at least ``MIN_QUOTE`` long). None while undecided: more text
    could still decide (``ended``: no more will come)."""
    opening = delivered.lstrip()[:OPENING].rstrip()
    head = new.lstrip()
    if not opening:
        return False
    n = min(len(head), len(opening))
    repeating = head[:n] == opening[:n]
    if repeating and n == len(opening):
        return True
    if len(opening) >= MIN_QUOTE:
        if opening in new:
            return True
        if len(new) < len(opening) + WINDOW and not ended:
            return None
    if repeating and not ended:
        return None
    return repeating and n >= min(len(opening), MIN_QUOTE)


async def verify(
    opened: OpenedStream, splice: Splice, broken: Broken, *, check_fresh: bool
) -> list[ChatCompletionChunk]:
    """Read ``opened`` until it is known to go on from the delivered text and has added to
    it (or ended): the chunks the caller gets first. ``check_fresh``: a continuation with no
    tail held back, checked by :func:`fresh_answer`. Raises ``Diverged`` (a restart with
    another answer), ``IgnoredPrefix`` (a continuation that answered anew), or what broke the
    stream before that point."""
    pending: list[ChatCompletionChunk] = []
    new = ""
    added = False  # something new reached (a stream that only repeats has added nothing)
    decided = not check_fresh
    source = _chunks(opened)
    try:
        async for chunk in source:
            try:
                fitted = splice.fit(chunk)
            except Diverged:
                if splice.how == "continue":  # the held-back tail was not written again
                    raise IgnoredPrefix(_content(chunk)[:80]) from None
                raise
            if fitted is not None:
                pending.append(fitted)
                new += _content(fitted)
                added = added or fitted.has_content
            ended = is_finished(chunk)
            if not decided:
                fresh = fresh_answer(broken.text, new, ended=ended)
                if fresh:
                    raise IgnoredPrefix(new[:80])
                decided = fresh is not None
            if ended or (splice.verified and decided and added):
                return pending
    finally:
        await source.aclose()
    raise APIConnectionError(
        "the recovered stream ended without a finish reason", provider=opened.provider
    )


def _content(chunk: ChatCompletionChunk) -> str:
    return "".join(c.delta.content or "" for c in chunk.choices)


async def _chunks(opened: OpenedStream) -> AsyncGenerator[ChatCompletionChunk, None]:
    """The chunks already read, then the live ones, each within the idle limit."""
    while opened.buffered:
        yield opened.buffered.pop(0)
    rest = opened.rest
    if rest is None:
        return
    while True:
        with anyio.move_on_after(opened.idle) as scope:
            try:
                chunk = await rest.__anext__()
            except StopAsyncIteration:
                return
        if scope.cancelled_caught:
            raise APITimeoutError(
                f"no data for {opened.idle:g} s while recovering", provider=opened.provider
            )
        if chunk is SKIPPED_EVENT:
            opened.skipped += 1
            continue
        yield chunk


def recorded_error(exc: BaseException) -> ProviderError | None:
    """The breaker's view of a candidate dropped in ``verify``: a failure of the provider
    when its stream broke, nothing when it answered but not with a continuation of ours."""
    if isinstance(exc, ProviderError):
        return exc
    return None
