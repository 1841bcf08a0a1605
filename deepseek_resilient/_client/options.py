"""The typed keyword arguments of the clients and of ``create`` (``TypedDict``s), and the
per-call defaults that ``with_options`` sets.

No ``from __future__ import annotations``: each string annotation of a ``TypedDict`` would be
compiled at import (65 ``compile`` calls)."""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import TypedDict

from .._balance.hedge import Hedge
from .._core.clock import Clock
from .._core.config import Cache, CircuitBreaker, RateLimit, Retry, RetryBudget
from .._core.errors import ConfigurationError
from .._policies.cache.key import CacheMode
from .._policies.rate_limit.layer import Priority

if TYPE_CHECKING:
    from .._state.redis import RedisState  # loaded with its first use, not at import

__all__ = [
    "CallOptions",
    "ClientOptions",
    "CreateParams",
    "PolicyOptions",
    "check_call_options",
    "check_client_keywords",
    "with_defaults",
]

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
    state: "RedisState | None"
    hedge: Hedge | None


class ClientOptions(PolicyOptions, total=False):
    """The keyword arguments of ``Client(...)`` (the same as ``AsyncClient``'s), typed so
    that a type checker catches a misspelt or foreign one such as ``max_retries``."""

    timeout: float
    retry: Retry | None


#: What to use instead of openai-python's constructor keywords that ``Client`` does not take.
_INSTEAD = {
    "max_retries": "retries are set with retry=Retry(attempts=N) (on the client or a provider)",
    "api_key": "keys belong to providers: Client([DeepSeek(api_key=...)])",
    "base_url": "URLs belong to providers: Client([OpenAICompatible(base_url=..., model=...)])",
    "default_headers": "headers belong to providers: OpenAICompatible(headers=...)",
}


def check_client_keywords(owner: str, options: Mapping[str, Any]) -> None:
    """``TypeError`` naming ``owner`` (the class the caller called) for a keyword that is
    not a ``ClientOptions`` one, with what to use instead when known."""
    for name in options:
        if name not in ClientOptions.__annotations__:
            fix = _INSTEAD.get(name)
            raise TypeError(
                f"{owner}() got an unexpected keyword argument {name!r}"
                + (f": {fix}" if fix else "")
            )


def check_call_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(CallOptions.__annotations__))
    if unknown:
        allowed = ", ".join(CallOptions.__annotations__)
        raise ConfigurationError(
            f"with_options() got {', '.join(unknown)}; it takes {allowed} (retries and the "
            "other policies are set on the client or its providers)"
        )


def with_defaults(defaults: Mapping[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A call's parameters over ``with_options`` defaults (``extra_*`` dicts merged)."""
    out = dict(defaults)
    for key, value in params.items():
        if key.startswith("extra_") and isinstance(value, dict) and isinstance(out.get(key), dict):
            value = {**out[key], **value}
        out[key] = value
    return out
