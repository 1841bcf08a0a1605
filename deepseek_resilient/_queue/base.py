"""What the queue backends share: a job, its result, the backend protocol and how one job
is run through the client (and what its outcome means: done, failed for good, or retry)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .._client.async_client import AsyncClient
from .._core.errors import (
    AllProvidersFailed,
    BadRequestError,
    DeepSeekResilientError,
    InvalidRequestError,
    UnprocessableEntityError,
)
from .._models import ChatCompletion

__all__ = ["Backend", "Job", "JobQueueError", "JobResult", "Outcome", "run_job"]

Status = Literal["queued", "running", "done", "failed", "dead"]


class JobQueueError(DeepSeekResilientError):
    """The queue's store can't be used (SQLite file, Redis unreachable, a corrupt record)."""


@dataclass(frozen=True)
class Job:
    """A claimed job: what a worker runs. ``token`` is the backend's handle (stream entry)."""

    id: str
    custom_id: str
    request: dict[str, Any]
    attempts: int
    token: str = ""


@dataclass(frozen=True)
class JobResult:
    """A job's state. Finished when ``status`` is ``done`` (``response`` is the completion
    as JSON), ``failed`` (the request itself was bad: not retried) or ``dead`` (failed
    ``max_attempts`` times: in the dead-letter set); before that ``queued`` or ``running``.
    ``error`` is ``{"code": <error type>, "message": ...}``."""

    id: str
    custom_id: str
    status: Status
    attempts: int
    response: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "dead")

    @property
    def completion(self) -> ChatCompletion | None:
        """The answer as a ``ChatCompletion`` (None unless done)."""
        return None if self.response is None else ChatCompletion.model_validate(self.response)


@dataclass(frozen=True)
class Outcome:
    """What running a job came to: ``done``, ``failed`` (for good) or ``retry``."""

    kind: Literal["done", "failed", "retry"]
    response: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def dumps(self) -> str:
        return json.dumps({"response": self.response, "error": self.error})


class Backend(Protocol):
    async def submit(self, job_id: str, custom_id: str, request: dict[str, Any]) -> str: ...
    async def claim(self, worker: str, limit: int) -> list[Job]: ...
    async def finish(self, job: Job, worker: str, outcome: Outcome) -> None: ...
    async def get(self, job_id: str) -> JobResult | None: ...
    async def pending(self) -> int: ...
    async def dead_letters(self) -> list[JobResult]: ...
    async def aclose(self) -> None: ...


def _is_callers_fault(exc: DeepSeekResilientError) -> bool:
    if isinstance(exc, InvalidRequestError):
        return True
    errors = exc.errors if isinstance(exc, AllProvidersFailed) else []
    return bool(errors) and all(
        isinstance(e, (BadRequestError, UnprocessableEntityError)) for e in errors
    )


async def run_job(client: AsyncClient, job: Job) -> Outcome:
    """Send one job's request. A bad request fails for good; any other failure is retried."""
    try:
        completion = await client.chat.completions.create(**{**job.request, "stream": False})
    except DeepSeekResilientError as exc:
        error = {"code": type(exc).__name__, "message": str(exc)}
        return Outcome("failed" if _is_callers_fault(exc) else "retry", error=error)
    assert isinstance(completion, ChatCompletion)
    return Outcome("done", response=completion.model_dump(mode="json", exclude_none=True))
