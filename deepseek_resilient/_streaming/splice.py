"""Splicing a recovered stream onto a broken one: only the text that extends what the caller
already has is passed on, or ``Diverged`` when the new answer does not start with it."""

from __future__ import annotations

from .._models import Attempt, ChatCompletionChunk, Route
from .opening import How, is_finished

__all__ = ["Diverged", "Splice", "committed_attempt", "failed_attempt"]


def committed_attempt(route: Route, provider: str) -> int | None:
    """Index of the last successful attempt of ``provider`` in ``route`` (the one that
    committed), or None."""
    for index in range(len(route.attempts) - 1, -1, -1):
        attempt: Attempt = route.attempts[index]
        if attempt.provider == provider and attempt.outcome == "ok":
            return index
    return None


def failed_attempt(route: Route, index: int | None, failure: BaseException) -> None:
    """Turn the route's attempt ``index`` (one that committed) into an error: ``error`` is the
    type of what ended it (``APIConnectionError``, ``Diverged``, ``IgnoredPrefix``, ...)."""
    if index is None:
        return
    attempts = route.attempts
    attempts[index] = attempts[index].model_copy(
        update={
            "outcome": "error",
            "error": type(failure).__name__,
            "status_code": getattr(failure, "status_code", None),
        }
    )


class Diverged(Exception):
    """A restarted answer does not start with the text already delivered."""


class Splice:
    """Fits a resumed stream onto what the caller already has: drops the part of the new
    answer that repeats ``skip_content`` (and ``skip_reasoning``), or raises ``Diverged``.
    ``restart``: the whole delivered text is repeated first; ``continue``: only the tail held
    back from the prefix (see ``recovery.held_back``), and its reasoning is dropped. Every
    chunk gets the first stream's id and loses its ``role``."""

    __slots__ = ("chunk_id", "how", "skip_content", "skip_reasoning")

    def __init__(self, how: How, chunk_id: str, content: str, reasoning: str = "") -> None:
        self.how = how
        self.chunk_id = chunk_id
        self.skip_content = content
        self.skip_reasoning = reasoning if how == "restart" else ""

    @property
    def verified(self) -> bool:
        """The new stream has repeated all it had to: from here on it only adds."""
        return not self.skip_content and not self.skip_reasoning

    @staticmethod
    def _trim(skip: str, text: str) -> tuple[str, str]:
        """(what is still to skip, what to emit) for ``text`` arriving while ``skip`` is left."""
        if skip.startswith(text):
            return skip[len(text) :], ""
        if text.startswith(skip):
            return "", text[len(skip) :]
        raise Diverged

    def fit(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk | None:
        """The chunk to pass on (edited in place), or None when nothing in it is new."""
        chunk.id = self.chunk_id
        for choice in chunk.choices:
            delta = choice.delta
            delta.role = None
            if self.how == "continue":
                delta.reasoning_content = None
            elif delta.reasoning_content:
                if self.skip_reasoning:
                    self.skip_reasoning, delta.reasoning_content = self._trim(
                        self.skip_reasoning, delta.reasoning_content
                    )
                elif self.skip_content:
                    delta.reasoning_content = None  # reasoning after content was delivered
            if delta.content:
                if self.skip_reasoning:
                    raise Diverged  # the content starts where the old answer was reasoning
                if self.skip_content:
                    self.skip_content, delta.content = self._trim(self.skip_content, delta.content)
            if is_finished(chunk) and (self.skip_content or self.skip_reasoning):
                raise Diverged  # the new answer is shorter than what was delivered
        if not chunk.has_content and not is_finished(chunk) and chunk.usage is None:
            return None
        return chunk
