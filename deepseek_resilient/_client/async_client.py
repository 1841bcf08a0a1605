"""``AsyncClient``: the core client. It builds the pipeline from its providers and policies
and sends each ``create()`` call through it."""

from __future__ import annotations

import copy
import itertools
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import Self, Unpack

from .._balance.hedge import Hedge
from .._balance.tier import Tier, flatten
from .._core.call import Call, Policies, ProviderSlot
from .._core.clock import Clock, MonotonicClock
from .._core.config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from .._core.errors import ConfigurationError, DeepSeekResilientError, InvalidRequestError
from .._core.events import RequestStarted, StateDegraded
from .._core.hooks import Hooks, emit_request_finished
from .._core.omit import accepts_omitted, drop_omitted, is_omitted
from .._core.pipeline import Pipeline
from .._core.validation import check_client_options
from .._core.validation import check_timeout as check_client_timeout
from .._models import ChatCompletion
from .._policies.breaker import BreakerHealth
from .._policies.coalesce import Singleflight
from .._providers.base import Provider
from .._state.base import BreakerStore, StateStore
from .._state.memory import DiskCacheStore, MemoryState
from .._streaming.streams import AsyncStream, OpenedStream
from .create_args import cache_mode, check_timeout, validate_request
from .options import CallOptions, check_call_options, with_defaults
from .resources import AsyncChat, AsyncModels, MessageInput
from .stats import StatsHook

if TYPE_CHECKING:
    from .._state.redis import RedisState
    from .stats_report import ClientStats

__all__ = ["AsyncClient"]

_DEFAULT_BREAKER = CircuitBreaker()
_DEFAULT_BUDGET = RetryBudget()
#: Request ids for events: unique in the process, so one hook can serve many clients.
_REQUEST_IDS = itertools.count(1)


class AsyncClient:
    """The resilient client. Use it as an async context manager, or call ``aclose()``.

    - ``providers``: tried in priority order. None: built from the environment (DeepSeek when
      ``DEEPSEEK_API_KEY`` is set, then the embedded local model when installed). A
      ``Tier([...])`` stands where a provider does: its members are balanced (see
      docs/load-balancing.md); ``providers`` then lists the members in their place.
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
    - ``hedge``: a ``Hedge(after=..., max_extra=...)`` for every request (None, the default:
      no hedged requests); a ``Tier``'s own ``hedge=`` overrides it.
    - ``clock``: time as a seam (``testing.FakeClock`` in tests).
    - ``state``: where breakers, rate limits, the cache and merging keep their state: None,
      this process (and the disk cache); ``RedisState(url)``, shared by every client on the
      same Redis and namespace (see docs/scaling.md).
    """

    @accepts_omitted
    def __init__(
        self,
        providers: Sequence[Provider | Tier] | None = None,
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
        hedge: Hedge | None = None,
    ) -> None:
        check_client_options(locals())
        if providers is None:
            from .defaults import default_providers

            providers = default_providers()
        entries = list(providers)
        if not entries:
            raise ConfigurationError("no providers: pass at least one provider")
        if not all(isinstance(p, (Provider, Tier)) for p in entries):
            raise ConfigurationError("providers must be Provider or Tier instances")
        if hedge is not None and not isinstance(hedge, Hedge):
            raise ConfigurationError(f"hedge must be a Hedge(...) or None, got {hedge!r}")
        providers, groups = flatten(entries)
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"provider names must be unique, got {names}")
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
        for hook in self._user_hooks:  # metrics keep the configured models as label values
            allow = getattr(hook, "allow_models", None)
            if callable(allow):
                allow([p.model for p in providers])
        if breaker_listeners:
            warnings.warn(
                "breaker_listeners is deprecated: pass a hook with on_breaker_state_changed "
                "in hooks= instead",
                DeprecationWarning,
                stacklevel=3,  # the caller of AsyncClient(...), past accepts_omitted
            )
        listeners = list(breaker_listeners)
        if state is not None:
            from .._state.redis import RedisState  # loaded with its first use

            if not isinstance(state, RedisState):
                raise ConfigurationError(f"state must be a RedisState or None, got {state!r}")
        store: StateStore = state.bind(self._state_degraded) if state is not None else MemoryState()
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
        in_flight = None
        if state is not None:  # least_busy tiers count requests in flight across processes
            from .._state.redis_inflight import in_flight_factory

            in_flight = in_flight_factory(store)
        self._pipeline = Pipeline(
            slots, self.clock, policies, groups=groups, hedge=hedge, in_flight=in_flight
        )
        self._call_defaults: dict[str, Any] = {}  # with_options(): defaults for each call
        self.chat = AsyncChat(self)
        self.models = AsyncModels(self)

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **options: Any) -> Self:
        """A client as the TOML file at ``path`` describes it (default:
        ``$DEEPSEEK_RESILIENT_CONFIG``); ``options`` override the file's. See docs/config.md."""
        from .._config_file import load_config

        config = load_config(path)
        return cls(config.providers, **{**config.options, **options})

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

    @accepts_omitted
    def with_options(self, **options: Unpack[CallOptions]) -> AsyncClient:
        """A client with other per-call defaults (``timeout``, ``cache``, ``priority``,
        ``extra_headers``...) that shares this one's providers, breakers, rate limiters,
        cache and connections (as openai-python's ``with_options``). Closing either closes
        the shared parts."""
        check_call_options(options)
        timeout = options.get("timeout")
        if timeout is not None:
            check_client_timeout(timeout)
        clone = copy.copy(self)
        clone._call_defaults = with_defaults(self._call_defaults, dict(options))
        if timeout is not None:
            clone.timeout = float(timeout)
        clone.chat = AsyncChat(clone)
        clone.models = AsyncModels(clone)
        return clone

    async def _create(
        self,
        messages: Iterable[MessageInput],
        stream: bool,
        params: dict[str, Any],
        *,
        from_json: bool = False,
    ) -> ChatCompletion | AsyncStream:
        """``from_json``: the arguments were parsed from JSON text that ``plain_json`` passed
        (the drop-in's request body), so they hold no placeholders and are plain JSON."""
        if not from_json:
            params = drop_omitted(params)  # openai's NOT_GIVEN / omit: not passed
            if is_omitted(stream):
                stream = False
            if is_omitted(messages):
                messages = ()  # refused by validation as missing
        if self._call_defaults:
            from_json = False  # the client's defaults are Python values
            params = with_defaults(self._call_defaults, params)
        timeout = params.pop("timeout", None)
        cache_opt = params.pop("cache", None)
        coalesce_opt = params.pop("coalesce", None)
        priority = params.pop("priority", "normal")
        budget = self.timeout if timeout is None else check_timeout(timeout)
        if priority not in ("high", "normal", "low"):
            raise InvalidRequestError(f"priority must be high, normal or low, got {priority!r}")
        request = validate_request(messages, stream, params, plain=from_json)
        cacheable = request.deterministic
        clock = self.clock
        call = Call(
            request=request,
            clock=clock,
            timeout=budget,
            started=clock.now(),
            cache_mode=cache_mode(cache_opt, cacheable),
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


def _breaker(
    store: StateStore,
    provider: Provider,
    config: CircuitBreaker | None,
    clock: Clock,
    listeners: Sequence[Any],
) -> BreakerStore | None:
    return None if config is None else store.breaker(provider.name, config, clock, listeners)
