"""The pipeline: its order is data, held here and nowhere else.

A request goes through ``REQUEST_LAYERS`` (outermost first); the router then runs, for each
provider in priority order, a chain built from ``PROVIDER_LAYERS``. Each layer is an
``async (call, next) -> answer`` function; a layer a client doesn't use (no cache, no rate
limit, no breaker) is left out when the chains are composed, so it costs nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import anyio

from ._accumulate import completion_to_chunks
from ._clock import Clock
from ._config import Retry
from ._errors import (
    AllProvidersFailed,
    APITimeoutError,
    CircuitOpenError,
    ContextLengthExceededError,
    DeadlineExceeded,
    DeepSeekResilientError,
    FirstTokenTimeoutError,
    InvalidRequestError,
    InvalidResponseError,
    ProviderError,
    RateLimitedLocally,
    RateLimitError,
)
from ._events import (
    AttemptFinished,
    AttemptStarted,
    CacheLookup,
    Coalesced,
    Failover,
    RateLimitRefused,
    RateLimitWaited,
    RetryScheduled,
    StreamCommitted,
)
from ._hooks import NO_HOOKS, Hooks
from ._policies.cache import CacheMode, mode_reads, mode_writes, request_key
from ._policies.coalesce import Singleflight
from ._policies.rate_limit import Priority, estimate_tokens
from ._policies.retry import call_with_retries
from ._providers.base import Provider
from ._state.base import BreakerStore, BudgetStore, CacheStore, FlightStore, RateLimiterStore
from ._streaming import How, OpenedStream, open_until_commit, read_to_end
from ._types import Attempt, ChatCompletion, ChatMessage, ChatRequest, Route

__all__ = [
    "DEFAULT_FIRST_TOKEN_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "PROVIDER_LAYERS",
    "REQUEST_LAYERS",
    "Call",
    "Pipeline",
    "ProviderSlot",
]

#: Outermost first. ``validate`` runs in ``create()`` before the call enters the pipeline.
REQUEST_LAYERS: tuple[str, ...] = ("validate", "cache", "coalesce", "deadline", "router")
#: Per provider, outermost first. The breaker sits outside the rate limiter so that an open
#: breaker skips its provider without taking (or waiting for) rate-limit capacity.
PROVIDER_LAYERS: tuple[str, ...] = ("retry", "breaker", "rate_limit", "timed_send")

#: While another provider remains after this one: time allowed until the first content (a
#: silent or queued provider hands over after this), and the longest gap between two data
#: events (keep-alives don't count). The last provider keeps the whole time left.
DEFAULT_FIRST_TOKEN_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 10.0

#: A completion, or a stream that has committed (its first output chunk was read).
Answer = ChatCompletion | OpenedStream
Handler = Callable[["Call"], Awaitable[Answer]]
Layer = Callable[["Call", Handler], Awaitable[Answer]]


@dataclass
class Call:
    """One request on its way through the pipeline: its deadline, options and route so far."""

    request: ChatRequest
    clock: Clock
    timeout: float
    started: float
    cache_mode: CacheMode = "bypass"
    coalesce: bool = False
    priority: Priority = "normal"
    route: Route = field(default_factory=Route)
    errors: list[ProviderError] = field(default_factory=list)
    #: When the current provider must give up (set by the router): leaves time for fallbacks.
    provider_deadline: float = math.inf
    #: The request's cache / merge key, computed once when a layer first needs it.
    key: str | None = None
    #: Ties this request's events together; ``hooks`` receive them.
    id: int = 0
    hooks: Hooks = NO_HOOKS
    #: The model asked for, else the first provider's (for events).
    model: str = ""
    #: Another provider could still answer after the current one (set by the router): the
    #: default first-token and idle limits apply.
    more_providers: bool = False
    #: The last attempt's timeout when it came from this request's own deadline share, not
    #: from the provider's limits: neutral for the breaker (the caller's tight budget).
    caller_cut: ProviderError | None = None

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    def time_left(self) -> float:
        return self.deadline - self.clock.now()

    def provider_time_left(self) -> float:
        return min(self.deadline, self.provider_deadline) - self.clock.now()


@dataclass
class ProviderSlot:
    """A provider with the policies that apply to it (its own overrides, else the client's)."""

    provider: Provider
    retry: Retry
    breaker: BreakerStore | None = None
    limiter: RateLimiterStore | None = None

    @property
    def identity(self) -> str:
        """What distinguishes its answers, for cache keys: never a secret."""
        p = self.provider
        return str(getattr(p, "identity", f"{p.name}|{type(p).__name__}|{p.model}"))


@dataclass
class Policies:
    """The client-wide parts the request layers use (None: that layer is left out)."""

    cache: CacheStore | None = None
    singleflight: Singleflight[tuple[Answer, Route]] | None = None
    #: Merging across processes (a shared store); None: within this process only.
    flights: FlightStore | None = None
    budget: BudgetStore | None = None
    failover_reserve: float = 0.25


def _compose(layers: Sequence[Layer], terminal: Handler) -> Handler:
    handler = terminal
    for layer in reversed(layers):
        handler = functools.partial(layer, next=handler)  # type: ignore[call-arg]
    return handler


class Pipeline:
    """Composes the layers once per client; ``run`` sends one validated request through."""

    def __init__(self, slots: Sequence[ProviderSlot], clock: Clock, policies: Policies) -> None:
        self.slots = list(slots)
        self.clock = clock
        self.policies = policies
        self._chain_ids = [slot.identity for slot in self.slots]
        #: (model, server address) per slot, for attempt events.
        self._attempt_labels = [_attempt_labels(slot.provider) for slot in self.slots]
        self._provider_used = {PROVIDER_LAYERS[-1]}  # filled in as the chains are composed
        self._chains = [self._provider_chain(slot) for slot in self.slots]
        request_layers: dict[str, Layer | None] = {
            "cache": self._cache_layer if policies.cache else None,
            "coalesce": self._coalesce_layer if policies.singleflight else None,
            "deadline": self._deadline_layer,
        }
        self._used = [n for n in REQUEST_LAYERS if request_layers.get(n) or n == "validate"]
        layers = [layer for n in REQUEST_LAYERS if (layer := request_layers.get(n))]
        self._handler = _compose(layers, self._route)

    def describe(self) -> list[str]:
        """The layers this client runs, outermost first (per-provider ones prefixed)."""
        per_provider = [f"provider:{n}" for n in PROVIDER_LAYERS if n in self._provider_used]
        return [*self._used, "router", *per_provider]

    async def run(self, call: Call) -> Answer:
        return await self._handler(call)

    def key(self, call: Call) -> str:
        if call.key is None:
            try:
                call.key = request_key(call.request, self._chain_ids)
            except (TypeError, ValueError, RecursionError) as exc:  # validation should prevent it
                raise InvalidRequestError(f"request cannot be keyed: {type(exc).__name__}") from exc
        return call.key

    # -- request layers

    async def _cache_layer(self, call: Call, next: Handler) -> Answer:
        cache = self.policies.cache
        assert cache is not None
        mode = call.cache_mode
        if mode == "bypass":
            call.route.cache = "bypass"
            return await next(call)
        key = self.key(call)
        cached = await cache.get(key) if mode_reads(mode) else None
        if cached is not None and cached.fresh:
            _emit_cache(call, "hit")
            return _from_cache(call, cached.completion, "hit")
        call.route.cache = "miss"
        try:
            answer = await next(call)
        except (AllProvidersFailed, DeadlineExceeded):
            if cached is not None:  # stale-if-error: an expired answer beats none
                _emit_cache(call, "stale")
                return _from_cache(call, cached.completion, "stale")
            _emit_cache(call, "miss")
            raise
        _emit_cache(call, "miss")
        if mode_writes(mode):
            if isinstance(answer, OpenedStream):
                answer.on_complete.append(functools.partial(cache.set, key))
            else:
                cache.set(key, answer)
        return answer

    async def _coalesce_layer(self, call: Call, next: Handler) -> Answer:
        flights = self.policies.singleflight
        assert flights is not None
        if not call.coalesce or call.request.stream:
            return await next(call)

        async def shared() -> tuple[Answer, Route]:
            if self.policies.flights is not None:
                return await _merged(self.policies.flights, key, call, next), call.route
            return await next(call), call.route

        key = self.key(call)
        joined = flights.waiters(key) > 0
        if joined and call.hooks.wants(Coalesced):
            call.hooks.emit(Coalesced(call.id))
        # Each waiter keeps its own deadline; leaving early never cancels the others' call.
        with anyio.move_on_after(max(0.0, call.time_left())):
            try:
                (answer, route), _ = await flights.run(key, shared)
            except DeepSeekResilientError as exc:
                if not joined:
                    raise
                call.route.coalesced = True  # the same error, as this waiter's own object
                raise copy.copy(exc) from exc
            if not joined:
                return answer
            call.route.coalesced = True
            call.route.provider = route.provider
            call.route.attempts = list(route.attempts)
            assert isinstance(answer, ChatCompletion)
            return answer.model_copy()
        raise DeadlineExceeded(
            f"no answer within the {call.timeout:g} s deadline", errors=call.errors
        )

    async def _deadline_layer(self, call: Call, next: Handler) -> Answer:
        with anyio.move_on_after(call.time_left()):
            return await next(call)
        raise DeadlineExceeded(
            f"no answer within the {call.timeout:g} s deadline", errors=call.errors
        )

    async def _route(self, call: Call) -> Answer:
        """Providers in priority order; a fail-over error hands the request to the next."""
        if self.policies.budget is not None:
            self.policies.budget.on_request()
        last = len(self._chains) - 1
        for index, chain in enumerate(self._chains):
            slot = self.slots[index]
            # An open breaker skips its provider before any layer runs (the cheap path), and
            # so does a context window the request cannot fit.
            refused = self._refusal(slot, call.request)
            try:
                if refused is not None:
                    raise refused
                left = call.time_left()
                more = self._more_after(index, call.request)
                share = left if not more else left * (1.0 - self.policies.failover_reserve)
                call.provider_deadline = self.clock.now() + share
                call.more_providers = more
                answer = await chain(call)
            except ProviderError as exc:
                if refused is not None or isinstance(exc, (CircuitOpenError, RateLimitedLocally)):
                    skipped = Attempt(
                        provider=slot.provider.name, outcome="skipped", error=type(exc).__name__
                    )
                    call.route.attempts.append(skipped)
                    self._emit_skipped(call, index, exc)
                call.errors.append(exc)
                if not exc.failover:
                    raise
                if index < last and call.hooks.wants(Failover):
                    to = self.slots[index + 1].provider.name
                    reason = type(exc).__name__
                    call.hooks.emit(Failover(call.id, slot.provider.name, to, reason))
                continue
            call.route.provider = slot.provider.name
            if isinstance(answer, OpenedStream) and answer.rest is not None:
                answer.resume = functools.partial(self._resume, call, index)
            return answer
        raise AllProvidersFailed(call.errors)

    def _emit_skipped(self, call: Call, index: int, exc: ProviderError) -> None:
        hooks, name = call.hooks, self.slots[index].provider.name
        if isinstance(exc, RateLimitedLocally) and hooks.wants(RateLimitRefused):
            hooks.emit(RateLimitRefused(call.id, name))
        if hooks.wants(AttemptFinished):
            model, address = self._attempt_labels[index]
            model = call.request.model or model
            hooks.emit(
                AttemptFinished(
                    call.id, name, model, "skipped", 0.0, type(exc).__name__, None, address
                )
            )

    def _refusal(self, slot: ProviderSlot, request: ChatRequest) -> ProviderError | None:
        """Why ``slot`` is skipped without any I/O (breaker open, context too small), or None."""
        refused = slot.breaker.refusal() if slot.breaker is not None else None
        if refused is not None:
            return refused
        window = slot.provider.context_window
        if window is not None:
            need = estimate_tokens(request)
            if need > window:
                return ContextLengthExceededError(
                    f"the request needs ~{need} tokens; the context window is {window}",
                    provider=slot.provider.name,
                    status_code=400,
                )
        return None

    def _more_after(self, index: int, request: ChatRequest) -> bool:
        """Whether a provider after ``index`` could still answer (not skipped right now)."""
        return any(self._refusal(slot, request) is None for slot in self.slots[index + 1 :])

    async def _resume(
        self, call: Call, failed: int, text: str, reasoning: str, failure: Exception
    ) -> tuple[OpenedStream, How]:
        """A committed stream broke after delivering ``text`` (and ``reasoning``): open a
        stream that goes on from there. First on providers declaring ``prefix_completion``
        (the delivered text sent as an assistant prefix), then from scratch (the caller's
        stream drops what repeats). The broken provider is tried first in each pass, then
        the others in priority order. Raises the last ``ProviderError`` when none could."""
        order = [failed, *(i for i in range(len(self.slots)) if i != failed)]
        plan: list[tuple[int, How]] = []
        if text:  # a stream cut while only reasoning was sent restarts
            plan += [(i, "continue") for i in order if self.slots[i].provider.prefix_completion]
        plan += [(i, "restart") for i in order]
        continued = _prefix_request(call.request, text)
        last_error: ProviderError = ProviderError(
            f"no provider could resume the stream after {type(failure).__name__}"
        )
        for step, (index, how) in enumerate(plan):
            slot = self.slots[index]
            request = continued if how == "continue" else call.request
            refused = self._refusal(slot, request)
            if refused is not None:
                skipped = type(refused).__name__
                call.route.attempts.append(
                    Attempt(provider=slot.provider.name, outcome="skipped", error=skipped)
                )
                last_error = refused
                continue
            later = [i for i, _ in plan[step + 1 :]]
            more = any(self._refusal(self.slots[i], request) is None for i in later)
            sub = dataclasses.replace(call, request=request, more_providers=more)
            left = sub.time_left()
            share = left if not more else left * (1.0 - self.policies.failover_reserve)
            sub.provider_deadline = self.clock.now() + share
            try:
                answer = await self._chains[index](sub)
            except ProviderError as exc:
                # Even a 400 here (a prefill rejected) is that candidate's limit: it never
                # masks what broke the stream; the next candidate is tried.
                last_error = exc
                continue
            assert isinstance(answer, OpenedStream)
            if answer.rest is not None:
                answer.resume = functools.partial(self._resume, call, index)
            return answer, how
        raise last_error

    # -- provider layers

    def _provider_chain(self, slot: ProviderSlot) -> Handler:
        factories: dict[str, Callable[[ProviderSlot], Layer | None]] = {
            "retry": self._retry_layer,
            "breaker": self._breaker_layer,
            "rate_limit": self._rate_limit_layer,
        }
        layers = {name: factories[name](slot) for name in PROVIDER_LAYERS[:-1]}
        self._provider_used.update(name for name, layer in layers.items() if layer)
        return _compose([layer for layer in layers.values() if layer], self._sender(slot))

    def _retry_layer(self, slot: ProviderSlot) -> Layer | None:
        retry, clock, budget = slot.retry, self.clock, self.policies.budget
        may_retry = budget.try_spend if budget is not None else (lambda: True)

        name = slot.provider.name

        async def retry_layer(call: Call, next: Handler) -> Answer:
            on_retry = None
            if call.hooks.wants(RetryScheduled):

                def on_retry(attempt: int, delay: float, error: BaseException | None) -> None:
                    kind = type(error).__name__
                    call.hooks.emit(RetryScheduled(call.id, name, delay, attempt, kind))

            return await call_with_retries(
                lambda: next(call), retry, clock, call.provider_time_left, may_retry, on_retry
            )

        return retry_layer

    def _breaker_layer(self, slot: ProviderSlot) -> Layer | None:
        breaker, clock = slot.breaker, self.clock
        if breaker is None:
            return None

        async def breaker_layer(call: Call, next: Handler) -> Answer:
            await breaker.admit()  # CircuitOpenError: skipped (in memory: zero I/O)
            started = clock.now()
            try:
                answer = await next(call)
            except ProviderError as exc:
                if isinstance(exc, RateLimitedLocally) or exc is call.caller_cut:
                    breaker.record_neutral()
                else:
                    breaker.record_failure(exc)
                raise
            except BaseException:  # cancellation is nobody's failure
                breaker.record_neutral()
                raise
            latency = clock.now() - started
            if isinstance(answer, OpenedStream):
                answer.finishers.append(functools.partial(_stream_outcome, breaker, latency))
            else:
                breaker.record_success(latency)
            return answer

        return breaker_layer

    def _rate_limit_layer(self, slot: ProviderSlot) -> Layer | None:
        limiter = slot.limiter
        if limiter is None:
            return None

        async def rate_limit_layer(call: Call, next: Handler) -> Answer:
            permit = await limiter.acquire(
                tokens=estimate_tokens(call.request),
                max_wait=max(0.0, call.provider_time_left()),
                priority=call.priority,
                hold_for=max(0.0, call.time_left()),
            )
            if permit.waited > 0 and call.hooks.wants(RateLimitWaited):
                call.hooks.emit(RateLimitWaited(call.id, slot.provider.name, permit.waited))
            try:
                answer = await next(call)
            except RateLimitError as exc:
                limiter.on_rate_limited(exc.retry_after)
                permit.release()
                raise
            except BaseException:
                permit.release()
                raise
            limiter.on_success()
            if isinstance(answer, OpenedStream):
                answer.finishers.append(lambda error: permit.release())
            else:
                used = answer.usage.total_tokens if answer.usage else None
                permit.release(used_tokens=used or None)
            return answer

        return rate_limit_layer

    def _sender(self, slot: ProviderSlot) -> Handler:
        """The innermost layer: one attempt at the provider, bounded by the attempt timeout
        (the provider's ``attempt_timeout`` and its share of the time left) and, while another
        provider remains, the first-token limit. Records the attempt in the route.

        A non-streamed request to a provider declaring ``stream_upstream`` (HTTP ones) is sent
        upstream as a stream while another provider remains, so that the same first-token and
        data-idle limits apply to it (a provider that is silent, queued behind keep-alives or
        stalled mid-answer hands over at once); the chunks are accumulated into the completion
        the caller gets."""
        provider, clock = slot.provider, self.clock
        address = _attempt_labels(provider)[1]

        async def timed_send(call: Call) -> Answer:
            # The attempt's own limit applies only when it is shorter than the request's
            # deadline; otherwise the deadline itself (DeadlineExceeded) ends the attempt.
            share = call.provider_time_left()
            budget = share
            if provider.attempt_timeout is not None:
                budget = min(budget, provider.attempt_timeout)
            attempt_limit = budget if budget < call.time_left() else math.inf
            first_token = _limit(
                provider.first_token_timeout, provider, call, DEFAULT_FIRST_TOKEN_TIMEOUT
            )
            data_idle = _limit(provider.data_idle_timeout, provider, call, DEFAULT_IDLE_TIMEOUT)
            streaming = call.request.stream
            as_stream = not streaming and provider.stream_upstream and first_token < attempt_limit
            if not (streaming or as_stream):
                first_token = math.inf  # a whole answer has no "first token" to wait for
            request = call.request if not as_stream else _as_stream(call.request)
            idle = max(0.001, min(budget, data_idle))
            started = clock.now()
            hooks = call.hooks
            model = call.request.model or provider.model
            if hooks.wants(AttemptStarted):
                tries = sum(1 for a in call.route.attempts if a.provider == provider.name) + 1
                hooks.emit(AttemptStarted(call.id, provider.name, model, tries, address))
            call.caller_cut = None
            committed = False  # some content arrived (a streamed answer's first token)
            error: ProviderError | None = None
            answer: Answer
            with anyio.move_on_after(max(0.0, attempt_limit)) as scope:
                first_scope = anyio.move_on_after(max(0.0, first_token))
                try:
                    with first_scope:
                        if streaming or as_stream:
                            source = provider.stream(request, idle_timeout=idle)
                            opened = await open_until_commit(source, provider.name)
                            opened.idle = data_idle
                            committed = True
                        else:
                            reply = await provider.complete(request, idle_timeout=idle)
                    if not first_scope.cancelled_caught:
                        if as_stream:
                            reply, skipped = await read_to_end(opened)
                            call.route.skipped_events += skipped
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
                except Exception as exc:  # a bug in a custom provider: typed, never raw
                    error = ProviderError(f"{type(exc).__name__}: {exc}", provider=provider.name)
                    error.__cause__ = exc
                else:
                    if not first_scope.cancelled_caught:
                        latency = clock.now() - started
                        call.route.attempts.append(
                            Attempt(provider=provider.name, outcome="ok", latency=latency)
                        )
                        if streaming and hooks.wants(StreamCommitted):
                            ttft = clock.now() - call.started
                            hooks.emit(StreamCommitted(call.id, provider.name, ttft))
                        _emit_attempt(call, provider.name, model, address, None, ok=True)
                        return answer
            if error is None and first_scope.cancelled_caught:
                error = FirstTokenTimeoutError(
                    f"no content within the first-token limit of {first_token:g} s",
                    provider=provider.name,
                )
            elif error is None:
                what = "no content" if streaming else "no answer"
                # No content at all from a stream: not retried here (its queue is what is
                # slow), the next provider is tried at once.
                silent = (streaming or as_stream) and not committed
                kind = FirstTokenTimeoutError if silent else APITimeoutError
                error = kind(
                    f"{what} within {min(attempt_limit, budget):.3g} s: attempt abandoned",
                    provider=provider.name,
                )
                if provider.attempt_timeout is None or share < provider.attempt_timeout:
                    call.caller_cut = error  # the request's own budget ran out, not the provider
            _record(call, provider.name, clock.now() - started, error)
            _emit_attempt(call, provider.name, model, address, error)
            raise error

        return timed_send


async def _merged(flights: FlightStore, key: str, call: Call, next: Handler) -> ChatCompletion:
    """One upstream call for identical requests in every process sharing the store."""

    async def compute() -> tuple[ChatCompletion, str | None]:
        answer = await next(call)
        assert isinstance(answer, ChatCompletion)  # merging is for completions only
        return answer, call.route.provider

    completion, provider, elsewhere = await flights.run(key, compute)
    if elsewhere:
        call.route.coalesced = True
        call.route.provider = provider
    return completion


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


def _checked(completion: ChatCompletion, provider: str) -> ChatCompletion:
    """``completion``, unless it is empty (no content, tool call or reasoning in any choice,
    and no finish reason): that is a provider failure, not an answer."""
    for choice in completion.choices:
        msg = choice.message
        if msg.content or msg.tool_calls or msg.reasoning_content or choice.finish_reason:
            return completion
    raise InvalidResponseError("empty answer: no content and no finish reason", provider=provider)


def _prefix_request(request: ChatRequest, text: str) -> ChatRequest:
    """``request`` asking to continue ``text`` as the assistant's answer (the last message
    an assistant message with ``"prefix": true``, DeepSeek's chat prefix completion)."""
    messages = list(request.messages)
    last = messages[-1]
    if last.role == "assistant" and (last.model_extra or {}).get("prefix"):
        text = str(last.content or "") + text  # the caller's own prefix, then ours
        messages.pop()
    messages.append(
        ChatMessage.model_validate({"role": "assistant", "content": text, "prefix": True})
    )
    return request.model_copy(update={"messages": messages})


def _stream_outcome(breaker: BreakerStore, latency: float, error: ProviderError | None) -> None:
    """A committed stream ended: fine, or broke. Running out of the caller's own deadline
    while the caller reads is nobody's failure."""
    if error is None:
        breaker.record_success(latency)
    elif isinstance(error.__cause__, DeadlineExceeded):
        breaker.record_neutral()
    else:
        breaker.record_failure(error)


def _from_cache(call: Call, completion: ChatCompletion, how: Literal["hit", "stale"]) -> Answer:
    call.route.cache = how
    call.route.provider = "cache"
    if call.request.stream:
        return OpenedStream.replay("cache", completion_to_chunks(completion))
    return completion


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


def _attempt_labels(provider: Provider) -> tuple[str, str | None]:
    """(model, server host) of a provider, for attempt events (never a key or a path)."""
    base_url = getattr(provider, "base_url", None)
    host = urlsplit(base_url).hostname if isinstance(base_url, str) else None
    return provider.model, host


def _emit_cache(call: Call, result: Literal["hit", "miss", "stale"]) -> None:
    if call.hooks.wants(CacheLookup):
        call.hooks.emit(CacheLookup(call.id, result))


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
