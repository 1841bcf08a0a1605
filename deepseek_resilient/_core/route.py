"""How a request was answered: ``Route`` and its ``Attempt`` and ``Recovery`` entries.

No ``from __future__ import annotations``: pydantic would compile each field's annotation
string when the class is built (see ``_models.request``)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .factories import empty_list

__all__ = ["Attempt", "CacheStatus", "Recovery", "Route", "StreamFailure"]

CacheStatus = Literal["hit", "miss", "stale", "bypass"]


class Attempt(BaseModel):
    """One try at one provider, or a skip of it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    provider: str
    outcome: Literal["ok", "error", "skipped", "cancelled"]
    error: str | None = None
    """The error's type name (``"ServiceUnavailableError"``), never its text."""
    note: str | None = None
    """Why a provider was skipped, when it says so in safe words ("DEEPSEEK_API_KEY is not
    set"); shown by ``Route.summary``."""
    status_code: int | None = None
    latency: float = 0.0


class Recovery(BaseModel):
    """One splice in a committed stream: it broke after ``at`` characters had reached the
    caller (content, plus reasoning) and went on from ``provider``. ``how``: ``"continue"``
    (the provider continued the delivered text as an assistant prefix) or ``"restart"`` (it
    answered again from scratch and only the part extending the delivered text was sent)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    at: int
    provider: str
    how: Literal["continue", "restart"]
    error: str
    """The type name of what broke the stream (``APIConnectionError``, ``APITimeoutError``)."""


class StreamFailure(BaseModel):
    """How a committed stream ended when it could not be recovered: ``provider``'s stream
    broke with ``error`` (a type name) after ``at`` characters (content, plus reasoning) had
    reached the caller, who got an ``IncompleteStreamError``."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    provider: str
    error: str
    at: int


class Route(BaseModel):
    """How a request was answered: who answered, every attempt, the cache, the time.

    ``recoveries``: each splice of a stream that broke after its first content and was
    recovered. ``failure``: set when a committed stream broke and was not recovered (then
    ``provider`` is whose stream was being read, not who answered). ``skipped_events``:
    malformed stream events skipped (one bad ``data:`` line in an otherwise good stream is
    dropped, not fatal)."""

    model_config = ConfigDict(defer_build=True)

    provider: str | None = None
    """The provider that answered (a tier's member: the member's name)."""
    tier: str | None = None
    """The tier of the provider that answered (None: a provider on its own)."""
    hedged: bool = False
    """A hedge was sent (a second request because the first was slow to start)."""
    attempts: list[Attempt] = Field(default_factory=empty_list)
    cache: CacheStatus = "bypass"
    coalesced: bool = False
    elapsed: float = 0.0
    recoveries: list[Recovery] = Field(default_factory=empty_list)
    failure: StreamFailure | None = None
    skipped_events: int = 0

    def summary(self) -> str:
        """One line: ``answered by local in 0.41 s (deepseek: APIConnectionError x3)``, or for
        a stream that broke and was not recovered ``failed: the stream from deepseek broke
        after 212 chars (APIConnectionError) in 3.10 s (...)``."""
        failed: dict[str, dict[str, int]] = {}
        noted = list(dict.fromkeys(f"{a.provider} skipped: {a.note}" for a in self.attempts
                                   if a.note))  # fmt: skip
        for a in self.attempts:
            if a.outcome != "ok" and not a.note:
                errors = failed.setdefault(a.provider, {})
                key = a.error or a.outcome
                errors[key] = errors.get(key, 0) + 1
        notes = [
            f"{p}: " + ", ".join(e + (f" x{n}" if n > 1 else "") for e, n in errs.items())
            for p, errs in failed.items()
        ]
        who = f"answered by {self.provider}" if self.provider else "not answered"
        if self.provider and self.tier:
            who += f" ({self.tier})"
        if self.failure is not None:
            f = self.failure
            who = f"failed: the stream from {f.provider} broke after {f.at} chars ({f.error})"
        extra = [f"cache {self.cache}"] if self.cache in ("hit", "stale") else []
        if self.coalesced:
            extra.append("coalesced")
        if self.hedged:
            extra.append("hedged")
        extra += noted + notes
        extra += [f"{r.how} on {r.provider} at char {r.at} after {r.error}"
                  for r in self.recoveries]  # fmt: skip
        if self.skipped_events:
            extra.append(f"{self.skipped_events} malformed event(s) skipped")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"{who} in {self.elapsed:.2f} s{tail}"
