"""Rules for ``FaultServer``: functions of ``(index, body)`` that pick an answer when nothing
is scripted (``Echo``, ``RejectPrefill``, ``Outage``, a seeded ``Chaos``)."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._steps import Ok, Rule, Status, Step, message_texts, prefix_of

__all__ = ["Chaos", "Echo", "IgnorePrefix", "Outage", "RejectPrefill"]


@dataclass(frozen=True)
class Echo:
    """A rule: answer ``Ok`` whose content is ``prefix`` + the last message's text, so a test
    can check that every answer belongs to its own request."""

    prefix: str = "echo: "

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step:
        texts = message_texts(body)
        done = prefix_of(body)
        if done is None:
            return Ok(self.prefix + (texts[-1] if texts else ""))
        # A continuation: the answer to the message before the prefix, minus the prefix.
        answer = self.prefix + (texts[-2] if len(texts) > 1 else "")
        return Ok(answer[len(done) :] if answer.startswith(done) else answer)


@dataclass(frozen=True)
class RejectPrefill:
    """A rule: a server that refuses prefix completion. A request whose last message is an
    assistant message (a prefill) gets 400; any other falls through (None)."""

    message: str = "the last message must have role user"

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        messages = body.get("messages") if isinstance(body, dict) else None
        last = messages[-1] if isinstance(messages, list) and messages else None
        if isinstance(last, dict) and last.get("role") == "assistant":
            return Status(400, message=self.message)
        return None


@dataclass(frozen=True)
class IgnorePrefix:
    """A rule: a server that takes a prefill (no 400) but ignores it, as
    ``python -m llama_cpp.server`` does: the final assistant message is a finished turn and
    ``answer`` (a step, or a rule such as ``Echo()``, seeing the body without the
    ``"prefix"`` flag) answers anew. Use it to check that a continuation that is really a
    fresh answer is never spliced onto the delivered text."""

    answer: Step | Rule = Echo()

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        if isinstance(self.answer, Step):
            return self.answer
        if prefix_of(body) is not None and isinstance(body, dict):
            messages = [dict(m) for m in body["messages"]]
            messages[-1].pop("prefix", None)
            body = {**body, "messages": messages}
        return self.answer(index, body)


class Outage:
    """A rule: ``during`` (default 503) while ``start <= clock.now() < end``, else None (the
    script, then ``default``, answers). With a ``testing.FakeClock`` a test scripts "down for
    60 s, then healthy" without waiting."""

    def __init__(self, clock: Any, start: float, end: float, *, during: Step | None = None) -> None:
        self.clock = clock
        self.start = start
        self.end = end
        self.during = during or Status(503)
        self.served = 0

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        if self.start <= self.clock.now() < self.end:
            self.served += 1
            return self.during
        return None


class Chaos:
    """A seeded random mix of faults, as a rule: ``Chaos(seed, [(0.3, Status(503)),
    (0.1, Status(429, retry_after=1)), (0.05, Reset())], otherwise=Echo())``.

    Each arriving request draws from one ``random.Random(seed)``: the n-th request to arrive
    gets the n-th draw, so a run's fault counts are reproducible (which request meets which
    fault depends on arrival order). ``counts`` tallies the steps served by type name."""

    def __init__(
        self,
        seed: int,
        mix: Sequence[tuple[float, Step]],
        *,
        otherwise: Step | Rule | None = None,
    ) -> None:
        total = sum(weight for weight, _ in mix)
        if any(weight < 0 for weight, _ in mix) or total > 1.0 + 1e-9:
            raise ValueError(f"weights must be >= 0 and sum to at most 1, got {total:g}")
        self.seed = seed
        self.mix = list(mix)
        self.otherwise: Step | Rule = otherwise if otherwise is not None else Echo()
        self.counts: dict[str, int] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step | None:
        with self._lock:
            draw = self._random.random()
        step: Step | None = None
        for weight, candidate in self.mix:
            if draw < weight:
                step = candidate
                break
            draw -= weight
        if step is None:
            step = (
                self.otherwise if isinstance(self.otherwise, Step) else self.otherwise(index, body)
            )
        with self._lock:
            name = type(step).__name__ if step is not None else "default"
            self.counts[name] = self.counts.get(name, 0) + 1
        return step

    def __repr__(self) -> str:
        return f"Chaos(seed={self.seed}, mix={self.mix!r})"
