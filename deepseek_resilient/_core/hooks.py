"""The hook dispatcher, and the built-in hook that logs failovers, give-ups and breaker changes.

A hook is any object with some of the ``on_*`` methods that ``_events`` names (one per event
type). ``Hooks`` finds them once, when the client is built, and keeps a table
``event type -> methods``; emitting is a lookup and a loop. Emission sites check
``hooks.wants(EventType)`` before building an event, so a client whose hooks ignore an event
type never allocates one. A hook that raises is logged once (per hook and method) and skipped:
it never breaks a request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._models import ChatCompletion
from .errors import ConfigurationError
from .events import (
    EVENT_TYPES,
    BreakerStateChanged,
    BreakerStateName,
    Event,
    Failover,
    RequestFinished,
    StateDegraded,
    TokenUsage,
)

if TYPE_CHECKING:
    from .._streaming.accumulate import Accumulator
    from .pipeline import Call

__all__ = [
    "NO_HOOKS",
    "BreakerListener",
    "Hooks",
    "LoggingHook",
    "emit_request_finished",
    "logger",
]

logger = logging.getLogger("deepseek_resilient")
# A library's logger stays silent until the application configures logging.
logger.addHandler(logging.NullHandler())

_STATES: dict[str, BreakerStateName] = {
    "closed": "closed",
    "open": "open",
    "half-open": "half-open",
}


class LoggingHook:
    """Logs on the ``deepseek_resilient`` logger: failovers (INFO), requests that got no
    answer (WARNING, with the route summary), breaker changes (WARNING when it opens, else
    INFO) and shared state falling back to in-process state (WARNING). Installed on every
    client. Messages carry provider names, error type names and timings, never a key or text."""

    def on_failover(self, event: Failover) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "failover %s -> %s (%s)", event.from_provider, event.to_provider, event.reason
            )

    def on_request_finished(self, event: RequestFinished) -> None:
        if event.outcome == "error" and logger.isEnabledFor(logging.WARNING):
            logger.warning("gave up: %s; %s", event.error_type, event.route.summary())

    def on_breaker_state_changed(self, event: BreakerStateChanged) -> None:
        level = logging.WARNING if event.new == "open" else logging.INFO
        logger.log(level, "breaker %s: %s -> %s", event.provider, event.old, event.new)

    def on_state_degraded(self, event: StateDegraded) -> None:
        logger.warning("%s unavailable (%s): using in-process state", event.store, event.reason)


class Hooks:
    """The hooks of one client (the built-in ``LoggingHook`` first, then the user's)."""

    __slots__ = ("_failed", "_finished_ok", "_ok_methods", "_table", "hooks")

    def __init__(self, hooks: Sequence[object] = (), *, builtin: bool = True) -> None:
        for hook in hooks:
            _check(hook)
        self.hooks: tuple[object, ...] = ((LoggingHook(),) if builtin else ()) + tuple(hooks)
        table: dict[type[Event], tuple[Callable[[Any], object], ...]] = {}
        for event_type in EVENT_TYPES:
            methods = [
                method
                for hook in self.hooks
                if callable(method := getattr(hook, event_type.hook_method, None))
            ]
            if methods:
                table[event_type] = tuple(methods)
        self._table = table
        # The logging hook only looks at failed requests: a success needs no event for it,
        # and is not handed to it.
        self._ok_methods = tuple(
            m
            for m in table.get(RequestFinished, ())
            if getattr(m, "__func__", None) is not LoggingHook.on_request_finished
        )
        self._finished_ok = bool(self._ok_methods)
        self._failed: set[tuple[int, str]] = set()

    def wants(self, event_type: type[Event]) -> bool:
        """True when some hook receives ``event_type``: build the event only then."""
        return event_type in self._table

    def wants_finished(self, ok: bool) -> bool:
        """Whether to build a ``RequestFinished`` for a request that succeeded (``ok``) or
        not: the built-in logging hook needs only the failures."""
        return self._finished_ok if ok else RequestFinished in self._table

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every hook that receives its type. Never raises."""
        methods = self._table.get(type(event))
        if methods:
            self._hand(methods, event)

    def emit_finished(self, event: RequestFinished) -> None:
        """``emit`` for a ``RequestFinished``: one that succeeded skips the logging hook."""
        self._hand(self._ok_methods if event.outcome == "ok" else self._table[RequestFinished],
                   event)  # fmt: skip

    def _hand(self, methods: tuple[Callable[[Any], object], ...], event: Event) -> None:
        for method in methods:
            try:
                method(event)
            except Exception:
                self._report(method, event)

    def _report(self, method: Callable[[Any], object], event: Event) -> None:
        owner = getattr(method, "__self__", method)
        key = (id(owner), event.hook_method)
        if key in self._failed:
            return
        self._failed.add(key)
        logger.exception(
            "hook %s.%s raised (logged once; the request goes on)",
            type(owner).__name__,
            event.hook_method,
        )

    def breaker_listener(self, provider: str) -> BreakerListener:
        """The listener that turns a breaker's state changes into ``BreakerStateChanged``."""
        return BreakerListener(self, provider)


_METHODS = frozenset(t.hook_method for t in EVENT_TYPES)


def _check(hook: object) -> None:
    """A hook must receive something, and every ``on_*`` method it has must be one we call
    (a misspelt method would otherwise never be called, silently)."""
    if isinstance(hook, type):
        raise ConfigurationError(f"hooks takes instances, got the class {hook.__name__}")
    unknown = sorted(
        name for name in dir(type(hook)) if name.startswith("on_") and name not in _METHODS
    )
    if unknown:
        raise ConfigurationError(
            f"{type(hook).__name__} has unknown hook methods {unknown}; known: {sorted(_METHODS)}"
        )
    if not any(callable(getattr(hook, name, None)) for name in _METHODS):
        raise ConfigurationError(
            f"{type(hook).__name__} has none of the hook methods ({', '.join(sorted(_METHODS))})"
        )


class BreakerListener:
    """Turns a breaker's state changes into ``BreakerStateChanged`` events. It has the methods
    of a pybreaker listener, without subclassing one: a breaker with only these keeps its
    state without importing pybreaker (which imports redis when installed)."""

    __slots__ = ("_hooks", "_provider")

    def __init__(self, hooks: Hooks, provider: str) -> None:
        self._hooks = hooks
        self._provider = provider

    def before_call(self, cb: object, func: object, *args: object, **kwargs: object) -> None:
        return None

    def success(self, cb: object) -> None:
        return None

    def failure(self, cb: object, exc: BaseException) -> None:
        return None

    def state_change(self, cb: object, old_state: object, new_state: object) -> None:
        old = _STATES.get(str(getattr(old_state, "name", old_state)))
        new = _STATES.get(str(getattr(new_state, "name", new_state)))
        if old is None or new is None or old == new:
            return
        self._hooks.emit(BreakerStateChanged(provider=self._provider, old=old, new=new))


#: The dispatcher of a bare pipeline (tests, tools): no hooks at all.
NO_HOOKS = Hooks(builtin=False)


def emit_request_finished(
    call: Call,
    outcome: Literal["ok", "error", "cancelled"],
    error: BaseException | None = None,
    answer: ChatCompletion | Accumulator | None = None,
) -> None:
    """Build and emit the ``RequestFinished`` of ``call`` (only when some hook wants it).
    ``answer``: the completion, or a stream's accumulator, for usage and the response model."""
    hooks = call.hooks
    if not hooks.wants_finished(outcome != "error"):
        return
    route = call.route
    usage: TokenUsage | None = None
    response_model: str | None = None
    if isinstance(answer, ChatCompletion):
        response_model = answer.model or None
        wire = answer.usage
    elif answer is not None:
        response_model, wire = answer.model or None, answer.usage
    else:
        wire = None
    if wire is not None and route.cache not in ("hit", "stale") and not route.coalesced:
        usage = TokenUsage(
            wire.prompt_tokens, wire.completion_tokens, wire.prompt_cache_hit_tokens or 0
        )
    hooks.emit_finished(
        RequestFinished(
            request_id=call.id,
            model=call.model,
            stream=call.request.stream,
            outcome=outcome,
            provider=route.provider,
            error_type=type(error).__name__ if error is not None else None,
            elapsed=route.elapsed,
            cache=route.cache,
            coalesced=route.coalesced,
            usage=usage,
            response_model=response_model,
            route=route,
        )
    )
