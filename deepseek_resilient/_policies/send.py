"""The innermost per-provider layer: one attempt at the provider, timed.

The attempt is bounded by the provider's ``attempt_timeout`` and its share of the time left
and, while another provider remains, by the first-token and data-idle limits. Each attempt is
recorded in the route and told to the hooks (``AttemptStarted`` / ``AttemptFinished``).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

import anyio

from .._core.bugs import provider_bug
from .._core.call import Answer, Call, Handler, Layer, Site
from .._core.errors import (
    APITimeoutError,
    FirstTokenTimeoutError,
    InvalidRequestError,
    InvalidResponseError,
    ProviderError,
)
from .._core.events import AttemptFinished, AttemptStarted, StreamCommitted
from .._models import Attempt, ChatCompletion, ChatRequest
from .._providers.base import Provider
from .._streaming.idle import AttemptScope
from .._streaming.opening import idle_error
from .._streaming.streams import OpenedStream, open_until_commit, read_to_end

__all__ = [
    "DEFAULT_FIRST_TOKEN_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "attempt_labels",
    "timed_send",
]

#: While another provider remains after this one: time allowed until the first content (a
#: silent or queued provider hands over after this), and the longest gap between two data
#: events (keep-alives don't count). The last provider keeps the whole time left.
DEFAULT_FIRST_TOKEN_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 10.0


def timed_send(site: Site) -> Layer | None:
    """The innermost layer: one attempt at the provider, bounded by the attempt timeout
    (the provider's ``attempt_timeout`` and its share of the time left) and, while another
    provider remains, the first-token limit. Records the attempt in the route.

    A non-streamed request to a provider declaring ``stream_upstream`` (HTTP ones) is sent
    upstream as a stream while another provider remains, so that the same first-token and
    data-idle limits apply to it (a provider that is silent, queued behind keep-alives or
    stalled mid-answer hands over at once); the chunks are accumulated into the completion
    the caller gets."""
    assert site.slot is not None
    provider, clock = site.slot.provider, site.clock
    address = attempt_labels(provider)[1]
    bugs: set[tuple[str, str]] = set()  # this provider's bugs already logged

    async def send(call: Call, next: Handler) -> Answer:
        lim = _limits(provider, call)
        streaming = call.request.stream
        request = call.request if not lim.as_stream else _as_stream(call.request)
        started = clock.now()
        model = call.request.model or provider.model
        if call.hooks.wants(AttemptStarted):
            tries = sum(1 for a in call.route.attempts if a.provider == provider.name) + 1
            call.hooks.emit(AttemptStarted(call.id, provider.name, model, tries, address))
        call.caller_cut = None
        committed = False  # some content arrived (a streamed answer's first token)
        reading: OpenedStream | None = None  # a stream read to its end here
        error: ProviderError | None = None
        answer: Answer
        # ONE cancel scope per attempt: until the first content it ends at the first-token
        # limit when that is the shorter one, then its deadline moves out to the attempt's.
        first_phase = True
        limit = max(0.0, min(lim.first_token, lim.attempt))
        with AttemptScope(limit) if limit < math.inf else _UNBOUNDED as scope:
            try:
                if streaming or lim.as_stream:
                    # Read to the end here: the chunks themselves are never shown, so the
                    # plain ones may stay parsed JSON (``_streaming.plain``).
                    plain = None if streaming else getattr(provider, "plain_stream", None)
                    source = (plain or provider.stream)(request, idle_timeout=lim.idle)
                    opened = await open_until_commit(source, provider.name)
                    opened.idle = lim.data_idle
                    committed = True
                else:
                    reply = await provider.complete(request, idle_timeout=lim.idle)
                first_phase = False
                if lim.first_limited:
                    scope.extend(max(0.0, lim.attempt) - max(0.0, lim.first_token))
                if lim.as_stream:  # the idle limit ends this attempt's scope (asyncio)
                    reading = opened
                    outer = None if isinstance(scope, _Unbounded) else scope
                    reply, skipped = await read_to_end(opened, outer)
                    _count_skipped(call, skipped)
                answer = opened if streaming else _checked(reply, provider.name)
            except ProviderError as exc:
                error = exc
            except InvalidRequestError:
                raise  # the request could not be built: the caller's fault, not the provider's
            except anyio.get_cancelled_exc_class():
                if not scope.cancel_called:
                    _record(call, provider.name, clock.now() - started, None)
                    _emit_attempt(call, provider.name, model, address, None)
                raise
            except Exception as exc:  # a bug in a custom provider: logged once, typed
                error = provider_bug(exc, provider.name, bugs)
            else:
                latency = clock.now() - started
                call.route.attempts.append(
                    Attempt(provider=provider.name, outcome="ok", latency=latency)
                )
                if streaming and call.hooks.wants(StreamCommitted):
                    ttft = clock.now() - call.started
                    call.hooks.emit(StreamCommitted(call.id, provider.name, ttft))
                _emit_attempt(call, provider.name, model, address, None, ok=True)
                return answer
        if error is None and reading is not None and reading.idle_expired:
            error = idle_error(reading)
        if error is None:
            error = _timed_out(provider, call, lim, first_phase, committed)
        _record(call, provider.name, clock.now() - started, error)
        _emit_attempt(call, provider.name, model, address, error)
        raise error

    return send


class _Unbounded:
    """The cancel scope of an attempt without limits of its own (the request's deadline
    bounds it): never cancelled, so none is entered (a real one costs a few µs a call)."""

    cancel_called = False

    def __enter__(self) -> _Unbounded:
        return self

    def extend(self, seconds: float) -> None:  # pragma: no cover - never limited
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_UNBOUNDED = _Unbounded()


class _Limits(NamedTuple):
    """One attempt's time limits (seconds; ``math.inf``: none)."""

    #: The provider's share of the request's time left.
    share: float
    #: The share, capped by the provider's ``attempt_timeout``.
    budget: float
    #: The attempt's own limit: ``budget`` when shorter than the request's deadline, else
    #: none (the deadline itself, ``DeadlineExceeded``, ends the attempt).
    attempt: float
    first_token: float
    data_idle: float
    #: The idle timeout handed to the provider's transport.
    idle: float
    #: A non-streamed request sent upstream as a stream (see ``timed_send``).
    as_stream: bool

    @property
    def first_limited(self) -> bool:
        return self.first_token < self.attempt


def _limits(provider: Provider, call: Call) -> _Limits:
    share = call.provider_time_left()
    budget = share if provider.attempt_timeout is None else min(share, provider.attempt_timeout)
    attempt = budget if budget < call.time_left() else math.inf
    first_token = _limit(provider.first_token_timeout, provider, call, DEFAULT_FIRST_TOKEN_TIMEOUT)
    data_idle = _limit(provider.data_idle_timeout, provider, call, DEFAULT_IDLE_TIMEOUT)
    streaming = call.request.stream
    as_stream = not streaming and provider.stream_upstream and first_token < attempt
    if not (streaming or as_stream):
        first_token = math.inf  # a whole answer has no "first token" to wait for
    idle = max(0.001, min(budget, data_idle))
    return _Limits(share, budget, attempt, first_token, data_idle, idle, as_stream)


def _timed_out(
    provider: Provider, call: Call, lim: _Limits, first_phase: bool, committed: bool
) -> ProviderError:
    """The error of an attempt its own scope ended; marks it ``caller_cut`` when the
    request's own budget ran out rather than the provider's limit."""
    if first_phase and lim.first_limited:
        return FirstTokenTimeoutError(
            f"no content within the first-token limit of {lim.first_token:g} s",
            provider=provider.name,
        )
    streaming = call.request.stream
    what = "no content" if streaming else "no answer"
    # No content at all from a stream: not retried here (its queue is what is slow), the
    # next provider is tried at once.
    silent = (streaming or lim.as_stream) and not committed
    kind = FirstTokenTimeoutError if silent else APITimeoutError
    error = kind(
        f"{what} within {min(lim.attempt, lim.budget):.3g} s: attempt abandoned",
        provider=provider.name,
    )
    if provider.attempt_timeout is None or lim.share < provider.attempt_timeout:
        call.caller_cut = error  # the request's own budget ran out, not the provider
    return error


def _limit(option: float | None, provider: Provider, call: Call, default: float) -> float:
    """A provider's first-token / idle limit: its own setting, else ``default`` while another
    provider remains, else none (the last provider keeps the whole time left). An in-process
    model gets no default: it has no queue to hang in, only a model to load."""
    if option is not None:
        return option
    return default if call.more_providers and not provider.local else math.inf


def _as_stream(request: ChatRequest) -> ChatRequest:
    """``request`` sent as a stream (asking for usage in the last chunk when not set)."""
    update: dict[str, object] = {"stream": True}
    if request.stream_options is None:
        update["stream_options"] = {"include_usage": True}
    return request.model_copy(update=update)


def _count_skipped(call: Call, skipped: int) -> None:
    if skipped:  # (setting a pydantic attribute costs a few µs: not for nothing)
        call.route.skipped_events += skipped


def _checked(completion: ChatCompletion, provider: str) -> ChatCompletion:
    """``completion``, unless it is empty (no content, tool call or reasoning in any choice,
    and no finish reason): that is a provider failure, not an answer."""
    for choice in completion.choices:
        msg = choice.message
        if msg.content or msg.tool_calls or msg.reasoning_content or choice.finish_reason:
            return completion
    raise InvalidResponseError("empty answer: no content and no finish reason", provider=provider)


def _record(call: Call, provider: str, latency: float, exc: ProviderError | None) -> None:
    """Append a failed attempt to the route (``exc`` None: the caller cancelled it)."""
    call.route.attempts.append(
        Attempt(
            provider=provider,
            outcome="error" if exc else "cancelled",
            error=type(exc).__name__ if exc else None,
            status_code=getattr(exc, "status_code", None),
            latency=latency,
        )
    )


def attempt_labels(provider: Provider) -> tuple[str, str | None]:
    """(model, server host) of a provider, for attempt events (never a key or a path)."""
    base_url = getattr(provider, "base_url", None)
    host = urlsplit(base_url).hostname if isinstance(base_url, str) else None
    return provider.model, host


def _emit_attempt(
    call: Call,
    provider: str,
    model: str,
    address: str | None,
    exc: ProviderError | None,
    *,
    ok: bool = False,
) -> None:
    """The attempt just recorded in the route, as an ``AttemptFinished`` event."""
    if not call.hooks.wants(AttemptFinished):
        return
    attempt = call.route.attempts[-1]
    outcome: Literal["ok", "error", "cancelled"] = "ok" if ok else ("error" if exc else "cancelled")
    call.hooks.emit(
        AttemptFinished(
            call.id,
            provider,
            model,
            outcome,
            attempt.latency,
            attempt.error,
            attempt.status_code,
            address,
        )
    )
