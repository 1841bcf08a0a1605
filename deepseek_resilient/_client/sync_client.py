"""``Client``: the sync facade. It runs ``AsyncClient``'s coroutines on one private
event-loop thread through a blocking portal."""

from __future__ import annotations

import contextlib
import copy
import os
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import anyio
from typing_extensions import Unpack

from .._balance.tier import Tier
from .._core.errors import ConfigurationError
from .._core.omit import accepts_omitted
from .._policies.breaker import BreakerHealth
from .._providers.base import Provider
from .async_client import AsyncClient
from .loop_thread import LoopThread
from .options import CallOptions, ClientOptions, check_client_keywords
from .resources import Chat, Models

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from .._policies.cache.store import ResponseCache
    from .stats_report import ClientStats

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """The sync client: the same pipeline as ``AsyncClient``, run on one private event-loop
    thread. Thread-safe: share one ``Client`` between threads. Ctrl-C cancels the call."""

    @accepts_omitted
    def __init__(
        self, providers: Sequence[Provider | Tier] | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        check_client_keywords(type(self).__name__, options)  # names Client, not AsyncClient
        self._async = AsyncClient(providers, **options)
        self._loop = LoopThread()
        self._portal: BlockingPortal | None = self._loop.portal
        # A Client that is dropped without close() still stops its loop thread.
        self._finalizer = weakref.finalize(self, self._loop.stop)
        self._root = self  # with_options() clones share their root's loop thread
        self.chat = Chat(self)
        self.models = Models(self)

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, **options: Unpack[ClientOptions]
    ) -> Client:
        """A client as the TOML file at ``path`` describes it (default:
        ``$DEEPSEEK_RESILIENT_CONFIG``); ``options`` override the file's. See docs/config.md."""
        from .._config_file import load_config

        config = load_config(path)
        return cls(config.providers, **{**config.options, **options})

    def with_options(self, **options: Unpack[CallOptions]) -> Client:
        """A client with other per-call defaults sharing this one's providers, state and
        loop thread (see ``AsyncClient.with_options``). Closing either closes both."""
        clone = copy.copy(self)
        clone._async = self._async.with_options(**options)
        clone.chat = Chat(clone)
        clone.models = Models(clone)
        return clone

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client", 1)

    @property
    def providers(self) -> tuple[Provider, ...]:
        return self._async.providers

    @property
    def pipeline(self) -> list[str]:
        """The layers a request goes through, outermost first."""
        return self._async.pipeline

    @property
    def cache(self) -> ResponseCache | None:
        """The disk cache (stats, clear, directory), or None when disabled."""
        return self._async.cache

    def health(self) -> dict[str, BreakerHealth]:
        """Each provider's breaker: state, failure rate, time until the next probe."""
        return self._run(_as_async(self._async.health))

    @property
    def hooks(self) -> tuple[object, ...]:
        """The hooks given as ``hooks=``."""
        return self._async.hooks

    def stats(self) -> ClientStats:
        """A snapshot of the client's figures (see ``AsyncClient.stats``)."""
        return self._run(_as_async(self._async.stats))

    def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        portal = self._root._portal
        if portal is None:
            raise ConfigurationError("this Client is closed")
        # A Ctrl-C may land at any moment, even while the task is being scheduled: the flag
        # and the scope are both read and cancelled on the loop thread, so neither is missed.
        interrupted = False
        scopes: list[anyio.CancelScope] = []

        async def guarded() -> T:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                if interrupted:
                    scope.cancel()
                return await fn()
            raise _Interrupted  # only after the cancel below: nobody reads this result

        def cancel() -> None:
            for scope in scopes:
                scope.cancel()

        try:
            return portal.start_task_soon(guarded).result()
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: stop the call
                interrupted = True
                with contextlib.suppress(Exception):
                    portal.call(cancel)
            raise

    def close(self) -> None:
        """Close connections and stop the loop thread. Idempotent."""
        root = self._root
        if root._portal is None:
            return
        try:
            root._portal.call(self._async.aclose)
        finally:
            root._portal = None
            root._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Interrupted(Exception):
    """The result of a sync call whose caller was interrupted (never seen by anyone)."""


def _as_async(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def run() -> T:
        return fn()

    return run
