"""A scripted in-process provider: no sockets, no model, exact control."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import anyio

from .._core.errors import ProviderError
from .._models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatRequest,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    Usage,
)
from .._providers.base import Provider

__all__ = ["FakeProvider", "Hang"]


@dataclass(frozen=True)
class Hang:
    """A scripted step: never answer (until cancelled)."""


FakeStep = str | ProviderError | Hang


class FakeProvider(Provider):
    """Answers from ``script`` (in order; then ``default``): a string is the answer's content,
    a ``ProviderError`` instance is raised, ``Hang()`` waits until cancelled.

    ``calls`` counts the calls and ``requests`` records them."""

    def __init__(
        self,
        name: str = "fake",
        script: Iterable[FakeStep] = (),
        *,
        default: FakeStep = "fake answer",
        model: str = "fake-model",
        **policies: object,
    ) -> None:
        self.name = name
        self.model = model
        self.default = default
        self.requests: list[ChatRequest] = []
        self._script: deque[FakeStep] = deque(script)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        for key, value in policies.items():
            if not hasattr(Provider, key):
                raise TypeError(f"unknown provider option {key!r}")
            setattr(self, key, value)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def script(self, *steps: FakeStep) -> None:
        with self._lock:
            self._script.extend(steps)

    async def _step(self, request: ChatRequest) -> str:
        with self._lock:
            self.requests.append(request)
            step = self._script.popleft() if self._script else self.default
        if isinstance(step, ProviderError):
            step.provider = step.provider or self.name
            raise step
        if isinstance(step, Hang):
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        return str(step)

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        content = await self._step(request)
        words = len(content.split())
        return ChatCompletion(
            id=f"fake-{self.name}-{next(self._ids)}",
            model=request.model or self.model,
            choices=[Choice(message=ChatCompletionMessage(content=content), finish_reason="stop")],
            usage=Usage(prompt_tokens=1, completion_tokens=words, total_tokens=1 + words),
        )

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        content = await self._step(request)
        cid = f"fake-{self.name}-{next(self._ids)}"
        model = request.model or self.model
        words = content.split(" ")
        for i, word in enumerate(words):
            text = word if i == len(words) - 1 else word + " "
            delta = ChoiceDelta(role="assistant" if i == 0 else None, content=text)
            yield ChatCompletionChunk(id=cid, model=model, choices=[ChunkChoice(delta=delta)])
        yield ChatCompletionChunk(
            id=cid, model=model, choices=[ChunkChoice(finish_reason="stop")],
            usage=Usage(prompt_tokens=1, completion_tokens=len(words), total_tokens=1 + len(words)),
        )  # fmt: skip
