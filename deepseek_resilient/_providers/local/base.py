"""``LocalProvider``: what the in-process model providers share.

* Lazy load: ``_load_model()`` (blocking, engine-specific) runs once, under a thread lock, on
  first use in a worker thread, or at construction with ``warm=True``; ``warm()`` loads ahead
  of the first request; ``aclose()`` frees the model (a later call loads it again).
* One inference at a time per loaded model (unless the engine batches: ``concurrency``):
  ``_infer_lock`` (a thread lock, holds across event loops, for engines that need it) and
  ``_limiter`` (a ``CapacityLimiter(concurrency)`` per event loop, made lazily in the loop).
* The error-translating loop: engine exceptions become ``LocalModelError`` at this boundary;
  our own errors and cancellation pass through unchanged.
"""

from __future__ import annotations

import contextlib
import threading
from abc import abstractmethod
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.to_thread

from ..._core.errors import LocalModelError
from ..base import Provider
from .worker import Emit, PerLoop, run_in_worker, stream_from_worker

__all__ = ["LocalProvider"]

T = TypeVar("T")


class LocalProvider(Provider):
    """Base of the local providers: lazy load, one inference at a time, error translation."""

    local = True
    #: The engine's name in error messages ("llama.cpp", "transformers").
    engine: ClassVar[str] = "the local model"

    def __init__(self, name: str, *, concurrency: int = 1) -> None:
        self.name = name
        self.concurrency = concurrency
        self._loaded_model: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()
        self._limiter = PerLoop(
            f"{type(self).__name__}-limiter-{id(self)}", lambda: anyio.CapacityLimiter(concurrency)
        )

    # ------------------------------------------------------------------ loading

    @abstractmethod
    def _load_model(self) -> Any:
        """Load the engine's model (blocking, called once under the load lock); return it.
        Raises ``LocalModelError``."""

    def _unload_model(self, handle: Any) -> None:
        """Free a loaded model (worker thread, under both locks). Default: its ``close()``."""
        closer = getattr(handle, "close", None)
        if closer is not None:
            closer()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._loaded_model is not None

    def _load(self) -> Any:
        """Load the model once (blocking; thread-safe) and return it."""
        with self._load_lock:
            if self._loaded_model is None:
                self._loaded_model = self._load_model()
            return self._loaded_model

    async def warm(self) -> None:
        """Load the model now (in a worker thread) instead of on the first request."""
        await self._ensure_loaded()

    async def _ensure_loaded(self) -> Any:
        if self._loaded_model is not None:
            return self._loaded_model
        return await anyio.to_thread.run_sync(self._load)

    async def aclose(self) -> None:
        """Free the model (idempotent). A later call loads it again."""

        def close() -> None:
            with self._load_lock, self._infer_lock:
                handle, self._loaded_model = self._loaded_model, None
                if handle is not None:
                    self._unload_model(handle)

        await anyio.to_thread.run_sync(close)

    # ------------------------------------------------------------------ errors

    def _error(self, exc: BaseException) -> LocalModelError:
        return LocalModelError(
            f"{self.engine} failed: {type(exc).__name__}: {exc}", provider=self.name
        )

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn an engine exception into ``LocalModelError``; ours and cancellation pass."""
        try:
            yield
        except (LocalModelError, anyio.get_cancelled_exc_class()):
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    # ------------------------------------------------------------------ worker threads

    async def _run(self, job: Callable[[threading.Event], T], *, name: str) -> T:
        """Run ``job(stop)`` in a worker thread under the per-model limiter, translated."""
        with self._translated():
            return await run_in_worker(job, limiter=self._limiter.get(), name=name)

    async def _relay(
        self, job: Callable[[threading.Event, Emit[T]], None], *, name: str
    ) -> AsyncGenerator[T, None]:
        """Yield what ``job(stop, emit)`` emits from a worker thread, translated; closing the
        iterator stops the job (the limiter is held until it returns)."""
        gen = stream_from_worker(job, limiter=self._limiter.get(), name=name)
        try:
            while True:
                try:
                    item = await gen.__anext__()
                except StopAsyncIteration:
                    return
                except (LocalModelError, anyio.get_cancelled_exc_class()):
                    raise
                except Exception as exc:
                    raise self._error(exc) from exc
                yield item
        finally:
            await gen.aclose()  # type: ignore[attr-defined]
