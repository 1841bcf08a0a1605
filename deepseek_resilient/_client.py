"""``AsyncClient`` (the core) and ``Client`` (a sync facade over the same coroutines)."""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import math
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal
from pydantic import ValidationError
from typing_extensions import TypedDict, Unpack

from ._clock import Clock, MonotonicClock
from ._config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from ._errors import (
    AllProvidersFailed,
    ConfigurationError,
    DeepSeekResilientError,
    InvalidRequestError,
    ProviderError,
)
from ._events import RequestStarted, StateDegraded
from ._hooks import Hooks, emit_request_finished
from ._loop_thread import LoopThread
from ._pipeline import Call, Pipeline, Policies, ProviderSlot
from ._policies.breaker import BreakerHealth
from ._policies.cache import CacheMode, ResponseCache
from ._policies.coalesce import Singleflight
from ._policies.rate_limit import Priority
from ._providers.base import Provider
from ._state.base import BreakerStore, StateStore
from ._state.memory import DiskCacheStore, MemoryState
from ._state.redis import RedisState
from ._stats import StatsHook
from ._stats_report import ClientStats
from ._streaming import AsyncStream, OpenedStream, Stream
from ._types import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatMessage,
    ChatRequest,
    Model,
    ModelList,
)
from ._validation import check_client_options, check_json

__all__ = ["AsyncClient", "CallOptions", "Client", "ClientOptions", "CreateParams"]

T = TypeVar("T")
MessageInput = ChatMessage | ChatCompletionMessage | Mapping[str, Any]
_DEFAULT_BREAKER = CircuitBreaker()
_DEFAULT_BUDGET = RetryBudget()
#: Request ids for events: unique in the process, so one hook can serve many clients.
_REQUEST_IDS = itertools.count(1)


class AsyncClient:
    """The resilient client. Use it as an async context manager, or call ``aclose()``.

    - ``providers``: tried in priority order. None: built from the environment (DeepSeek when
      ``DEEPSEEK_API_KEY`` is set, then the embedded local model when installed).
    - ``timeout``: ONE total deadline per request over all attempts, sleeps and fallbacks
      (and the reading of a stream); ``create(timeout=...)`` overrides it per call.
    - ``retry``, ``breaker``, ``rate_limit``: client-wide policies; a provider's own
      ``retry=`` / ``breaker=`` / ``rate_limit=`` overrides them. ``breaker=None`` turns the
      breaker off; ``rate_limit=None`` (the default) sets no limits, but a 429's Retry-After
      still pauses that provider for every request.
    - ``retry_budget``: the client-wide cap on retries (None: unlimited).
    - ``cache``: a disk cache of answers (None, the default: no cache).
    - ``coalesce``: merge identical cacheable requests that are in flight at the same time.
    - ``failover_reserve``: the share of the time left that a provider leaves for the ones
      after it, so a stalled primary can't starve its fallback.
    - ``hooks``: objects told of what happens (requests, attempts, retries, failovers,
      breaker changes, cache, streams) through ``on_*`` methods: see docs/extending.md.
      ``deepseek_resilient.metrics`` has Prometheus and OpenTelemetry ones.
    - ``stats``: keep the figures ``stats()`` returns (a few microseconds per request).
    - ``breaker_listeners``: deprecated (pybreaker listeners); use a hook with
      ``on_breaker_state_changed``.
    - ``clock``: time as a seam (``testing.FakeClock`` in tests).
    - ``state``: where breakers, rate limits, the cache and merging keep their state: None,
      this process (and the disk cache); ``RedisState(url)``, shared by every client on the
      same Redis and namespace (see docs/scaling.md).
    """

    def __init__(
        self,
        providers: Sequence[Provider] | None = None,
        *,
        timeout: float = 60.0,
        retry: Retry | None = None,
        breaker: CircuitBreaker | None = _DEFAULT_BREAKER,
        rate_limit: RateLimit | None = None,
        retry_budget: RetryBudget | None = _DEFAULT_BUDGET,
        cache: Cache | None = None,
        coalesce: bool = True,
        failover_reserve: float = 0.25,
        breaker_listeners: Sequence[Any] = (),
        clock: Clock | None = None,
        hooks: Sequence[object] = (),
        stats: bool = True,
        state: RedisState | None = None,
    ) -> None:
        check_client_options(locals())
        if providers is None:
            from ._defaults import default_providers

            providers = default_providers()
        providers = list(providers)
        if not providers:
            raise ConfigurationError("no providers: pass at least one provider")
        if not all(isinstance(p, Provider) for p in providers):
            raise ConfigurationError("providers must be Provider instances")
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"provider names must be unique, got {names}")
        if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
            raise ConfigurationError(f"timeout must be a positive number of seconds: {timeout!r}")
        if not 0 <= failover_reserve < 1:
            raise ConfigurationError("failover_reserve must be within [0, 1)")
        self.providers: tuple[Provider, ...] = tuple(providers)
        self.timeout = float(timeout)
        self.retry = retry or Retry()
        self.clock: Clock = clock or MonotonicClock()
        self.coalesce = coalesce
        self._user_hooks = tuple(hooks)
        self._stats = StatsHook(self.clock, [p.name for p in providers]) if stats else None
        self._hooks = Hooks([*([self._stats] if self._stats else []), *self._user_hooks])
        if breaker_listeners:
            warnings.warn(
                "breaker_listeners is deprecated: pass a hook with on_breaker_state_changed "
                "in hooks= instead",
                DeprecationWarning,
                stacklevel=2,
            )
        listeners = list(breaker_listeners)
        if state is not None and not isinstance(state, RedisState):
            raise ConfigurationError(f"state must be a RedisState or None, got {state!r}")
        store: StateStore = (
            state.bind(self._state_degraded) if state is not None else MemoryState()
        )
        self._store = store
        slots = [
            ProviderSlot(
                p,
                p.retry or self.retry,
                _breaker(
                    store,
                    p,
                    p.breaker or breaker,
                    self.clock,
                    [self._hooks.breaker_listener(p.name), *listeners],
                ),
                store.limiter(p.name, p.rate_limit or rate_limit or RateLimit(), self.clock),
            )
            for p in self.providers
        ]
        budget = None if retry_budget is None else store.budget(retry_budget, self.clock)
        # Cache entries outlive the process: they use wall time unless a test injects a clock.
        self._cache_store = None if cache is None else store.cache(cache, clock)
        cs = self._cache_store
        self.cache = cs.disk if isinstance(cs, DiskCacheStore) else None
        policies = Policies(
            cache=self._cache_store,
            singleflight=Singleflight(),
            flights=store.flights(),
            budget=budget,
            failover_reserve=failover_reserve,
        )
        self._slots = slots
        self._pipeline = Pipeline(slots, self.clock, policies)
        self._call_defaults: dict[str, Any] = {}  # with_options(): defaults for each call
        self.chat = _AsyncChat(self)
        self.models = _AsyncModels(self)

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.providers)
        return f"{type(self).__name__}(providers=[{names}], timeout={self.timeout:g})"

    @property
    def pipeline(self) -> list[str]:
        """The layers a request goes through, outermost first."""
        return self._pipeline.describe()

    def health(self) -> dict[str, BreakerHealth]:
        """Each provider's breaker: state, failure rate, time until the next probe."""
        return {s.provider.name: s.breaker.health() for s in self._slots if s.breaker}

    @property
    def hooks(self) -> tuple[object, ...]:
        """The hooks given as ``hooks=`` (the built-in logging and stats hooks not included)."""
        return self._user_hooks

    def _state_degraded(self, store: str, reason: str) -> None:
        if self._hooks.wants(StateDegraded):
            self._hooks.emit(StateDegraded(store, reason))

    def stats(self) -> ClientStats:
        """Counts, error rates, latency percentiles (sliding window), time to first token,
        breaker states, retries, failovers, cache and tokens: overall and per provider."""
        if self._stats is None:
            raise ConfigurationError("stats are off for this client (stats=False)")
        return self._stats.snapshot(self.health())

    def with_options(self, **options: Unpack[CallOptions]) -> AsyncClient:
        """A client with other per-call defaults (``timeout``, ``cache``, ``priority``,
        ``extra_headers``...) that shares this one's providers, breakers, rate limiters,
        cache and connections (as openai-python's ``with_options``). Closing either closes
        the shared parts."""
        _check_call_options(options)
        timeout = options.get("timeout")
        if timeout is not None and not (
            isinstance(timeout, (int, float)) and 0 < timeout < math.inf
        ):
            raise ConfigurationError(f"timeout must be a positive number of seconds: {timeout!r}")
        clone = copy.copy(self)
        clone._call_defaults = _with_defaults(self._call_defaults, dict(options))
        if timeout is not None:
            clone.timeout = float(timeout)
        clone.chat = _AsyncChat(clone)
        clone.models = _AsyncModels(clone)
        return clone

    async def _create(
        self, messages: Iterable[MessageInput], stream: bool, params: dict[str, Any]
    ) -> ChatCompletion | AsyncStream:
        if self._call_defaults:
            params = _with_defaults(self._call_defaults, params)
        timeout = params.pop("timeout", None)
        cache_opt = params.pop("cache", None)
        coalesce_opt = params.pop("coalesce", None)
        priority = params.pop("priority", "normal")
        budget = self.timeout if timeout is None else _check_timeout(timeout)
        if priority not in ("high", "normal", "low"):
            raise InvalidRequestError(f"priority must be high, normal or low, got {priority!r}")
        request = _validate(messages, stream, params)
        cacheable = request.deterministic
        clock = self.clock
        call = Call(
            request=request,
            clock=clock,
            timeout=budget,
            started=clock.now(),
            cache_mode=_cache_mode(cache_opt, cacheable),
            coalesce=self.coalesce and (cacheable if coalesce_opt is None else coalesce_opt),
            priority=priority,
            id=next(_REQUEST_IDS),
            hooks=self._hooks,
            model=request.model or self.providers[0].model,
        )
        if self._hooks.wants(RequestStarted):
            self._hooks.emit(RequestStarted(call.id, call.model, stream))
        try:
            answer = await self._pipeline.run(call)
        except DeepSeekResilientError as exc:
            call.route.elapsed = clock.now() - call.started
            exc.route = call.route
            emit_request_finished(call, "error", exc)
            raise
        except BaseException:
            call.route.elapsed = clock.now() - call.started
            emit_request_finished(call, "cancelled")
            raise
        call.route.elapsed = clock.now() - call.started
        if isinstance(answer, OpenedStream):
            return AsyncStream(answer, call)
        answer._route = call.route
        emit_request_finished(call, "ok", None, answer)
        return answer

    async def aclose(self) -> None:
        """Close every provider's connections and the cache. Idempotent."""
        for provider in self.providers:
            await provider.aclose()
        if self._cache_store is not None:
            self._cache_store.close()
        await self._store.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra"]


class CreateParams(TypedDict, total=False):
    """Keyword arguments of ``create`` besides ``messages`` and ``stream``: every parameter of
    the OpenAI chat API (openai-python 3.57), DeepSeek's ``thinking`` and ``user_id``, the
    per-call ``extra_headers`` / ``extra_query`` / ``extra_body``, then this library's
    per-call options. OpenAI-compatible providers get them all; a local backend that cannot
    honour one raises ``UnsupportedParameterError``."""

    model: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    max_completion_tokens: int | None
    stop: str | list[str] | None
    seed: int | None
    n: int | None
    tools: list[dict[str, Any]] | None
    tool_choice: str | dict[str, Any] | None
    parallel_tool_calls: bool | None
    functions: list[dict[str, Any]] | None
    function_call: str | dict[str, Any] | None
    response_format: dict[str, Any] | None
    frequency_penalty: float | None
    presence_penalty: float | None
    logit_bias: dict[str, int] | None
    logprobs: bool | None
    top_logprobs: int | None
    reasoning_effort: ReasoningEffort | None
    verbosity: Literal["low", "medium", "high"] | None
    user: str | None
    safety_identifier: str | None
    metadata: dict[str, str] | None
    store: bool | None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None
    prediction: dict[str, Any] | None
    modalities: list[Literal["text", "audio"]] | None
    audio: dict[str, Any] | None
    web_search_options: dict[str, Any] | None
    moderation: dict[str, Any] | None
    prompt_cache_key: str | None
    prompt_cache_options: dict[str, Any] | None
    prompt_cache_retention: Literal["in_memory", "24h"] | None
    stream_options: dict[str, Any] | None
    #: DeepSeek thinking mode: ``{"type": "enabled" | "disabled"}``, or True / False.
    thinking: dict[str, Any] | bool | None
    #: DeepSeek: isolates content safety, KV cache and scheduling per end user.
    user_id: str | None
    #: Headers added to this call's HTTP request (OpenAI-compatible providers).
    extra_headers: dict[str, str] | None
    #: Query parameters added to this call's URL (OpenAI-compatible providers).
    extra_query: dict[str, Any] | None
    #: Fields merged into this call's JSON body (provider-specific parameters).
    extra_body: dict[str, Any] | None
    #: This call's total deadline in seconds (default: the client's ``timeout``).
    timeout: float | None
    #: Cache use for this call: "use" | "refresh" | "bypass" | "no-store"; True opts a
    #: non-deterministic request in ("use"), False is "bypass". Default: "use" when the
    #: request is deterministic (temperature 0 or a seed), else "bypass".
    cache: CacheMode | bool | None
    #: Share one upstream call with identical requests in flight (default: when cacheable).
    coalesce: bool | None
    #: Under client-side rate limiting: "high" is admitted first, "low" is shed first.
    priority: Priority


class CallOptions(TypedDict, total=False):
    """Per-call defaults that ``with_options`` sets (a call's own arguments win)."""

    timeout: float | None
    cache: CacheMode | bool | None
    coalesce: bool | None
    priority: Priority
    extra_headers: dict[str, str] | None
    extra_query: dict[str, Any] | None
    extra_body: dict[str, Any] | None


class PolicyOptions(TypedDict, total=False):
    """The client's resilience options (shared by ``Client`` and the drop-in ``OpenAI``)."""

    breaker: CircuitBreaker | None
    rate_limit: RateLimit | None
    retry_budget: RetryBudget | None
    cache: Cache | None
    coalesce: bool
    failover_reserve: float
    breaker_listeners: Sequence[Any]
    clock: Clock | None
    hooks: Sequence[object]
    stats: bool
    state: RedisState | None


class ClientOptions(PolicyOptions, total=False):
    """The keyword arguments of ``Client(...)`` (the same as ``AsyncClient``'s), typed so
    that a type checker catches a misspelt or foreign one such as ``max_retries``."""

    timeout: float
    retry: Retry | None


def _check_call_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(CallOptions.__annotations__))
    if unknown:
        allowed = ", ".join(CallOptions.__annotations__)
        raise ConfigurationError(
            f"with_options() got {', '.join(unknown)}; it takes {allowed} (retries and the "
            "other policies are set on the client or its providers)"
        )


def _with_defaults(defaults: Mapping[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A call's parameters over ``with_options`` defaults (``extra_*`` dicts merged)."""
    out = dict(defaults)
    for key, value in params.items():
        if key.startswith("extra_") and isinstance(value, dict) and isinstance(out.get(key), dict):
            value = {**out[key], **value}
        out[key] = value
    return out


class _AsyncCompletions:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        messages: Iterable[MessageInput],
        stream: Literal[False] = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[MessageInput],
        stream: Literal[True],
        **params: Unpack[CreateParams],
    ) -> AsyncStream: ...

    async def create(
        self,
        *,
        messages: Iterable[MessageInput],
        stream: bool = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion | AsyncStream:
        """Create a chat completion (the OpenAI call shape), or with ``stream=True`` an
        ``AsyncStream`` of chunks once the answer has started (see docs/streaming.md)."""
        return await self._client._create(messages, stream, dict(params))


class _AsyncChat:
    def __init__(self, client: AsyncClient) -> None:
        self.completions = _AsyncCompletions(client)


class _AsyncModels:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> ModelList:
        """The models of the whole chain, in priority order: what each remote provider's
        ``/models`` lists, and each local provider's model. A provider that fails to list
        is left out; ``AllProvidersFailed`` when none could."""
        client = self._client
        models: list[Model] = []
        errors: list[ProviderError] = []
        for provider in client.providers:
            name, lister = provider.name, getattr(provider, "models", None)
            if provider.local or not callable(lister):
                models.append(Model(id=provider.model, owned_by=provider.name, provider=name))
                continue
            try:
                with anyio.fail_after(client.timeout):
                    ids = await lister(timeout=client.timeout)
            except ProviderError as exc:
                errors.append(exc)
                continue
            except TimeoutError:
                errors.append(ProviderError("listing the models timed out", provider=provider.name))
                continue
            models += [Model(id=i, owned_by=name, provider=name) for i in ids]
        if not models and errors:
            raise AllProvidersFailed(errors)
        return ModelList(data=models)


def _validate(messages: object, stream: bool, params: dict[str, Any]) -> ChatRequest:
    try:
        if messages is not None and not isinstance(messages, (list, tuple, str, bytes)):
            messages = list(messages)  # type: ignore[call-overload]
        params = {k: v for k, v in params.items() if v is not None}
        request = ChatRequest.model_validate({"messages": messages, "stream": stream, **params})
        check_json(request.model_dump(exclude_none=True))  # plain JSON, sane depth
        return request
    except ValidationError as exc:
        problems = "; ".join(
            _problem(err) for err in exc.errors(include_url=False, include_input=False)
        )
        raise InvalidRequestError(f"invalid request: {problems}") from exc
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, InvalidRequestError):
            raise
        raise InvalidRequestError(f"invalid request: {type(exc).__name__}: {exc}") from exc


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
        return (
            f"unknown parameter {where!r}: a provider-specific field goes in "
            f"extra_body={{{where!r}: ...}}"
        )
    return f"{where or 'request'}: {err['msg']}"


def _cache_mode(option: CacheMode | bool | None, cacheable: bool) -> CacheMode:
    if option is None:
        return "use" if cacheable else "bypass"
    if option is True:
        return "use"
    if option is False:
        return "bypass"
    if option not in ("use", "refresh", "bypass", "no-store"):
        raise InvalidRequestError(f"cache must be use, refresh, bypass or no-store: {option!r}")
    return option


def _breaker(
    store: StateStore,
    provider: Provider,
    config: CircuitBreaker | None,
    clock: Clock,
    listeners: Sequence[Any],
) -> BreakerStore | None:
    return None if config is None else store.breaker(provider.name, config, clock, listeners)


def _check_timeout(timeout: float) -> float:
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise InvalidRequestError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


# ----------------------------------------------------------------------------- sync facade


class Client:
    """The sync client: the same pipeline as ``AsyncClient``, run on one private event-loop
    thread. Thread-safe: share one ``Client`` between threads. Ctrl-C cancels the call."""

    def __init__(
        self, providers: Sequence[Provider] | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        self._async = AsyncClient(providers, **options)
        self._loop = LoopThread()
        self._portal: BlockingPortal | None = self._loop.portal
        # A Client that is dropped without close() still stops its loop thread.
        self._finalizer = weakref.finalize(self, self._loop.stop)
        self._root = self  # with_options() clones share their root's loop thread
        self.chat = _Chat(self)
        self.models = _Models(self)

    def with_options(self, **options: Unpack[CallOptions]) -> Client:
        """A client with other per-call defaults sharing this one's providers, state and
        loop thread (see ``AsyncClient.with_options``). Closing either closes both."""
        clone = copy.copy(self)
        clone._async = self._async.with_options(**options)
        clone.chat = _Chat(clone)
        clone.models = _Models(clone)
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


class _Completions:
    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        messages: Iterable[MessageInput],
        stream: Literal[False] = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[MessageInput],
        stream: Literal[True],
        **params: Unpack[CreateParams],
    ) -> Stream: ...

    def create(
        self,
        *,
        messages: Iterable[MessageInput],
        stream: bool = False,
        **params: Unpack[CreateParams],
    ) -> ChatCompletion | Stream:
        """Create a chat completion; the same arguments as ``AsyncClient``'s. With
        ``stream=True``: a ``Stream`` to iterate (and close, or use in a ``with`` block)."""
        client = self._client
        create = functools.partial(client._async._create, messages, stream, dict(params))
        answer = client._run(create)
        return Stream(answer, client._run) if isinstance(answer, AsyncStream) else answer


class _Chat:
    def __init__(self, client: Client) -> None:
        self.completions = _Completions(client)


class _Models:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> ModelList:
        """The models of the whole chain (see ``AsyncClient.models.list``)."""
        return self._client._run(self._client._async.models.list)
