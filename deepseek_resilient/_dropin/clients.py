"""``OpenAI`` / ``AsyncOpenAI``: genuine ``openai.OpenAI`` / ``openai.AsyncOpenAI`` subclasses
whose HTTP client carries our transport.

    -from openai import OpenAI
    +from deepseek_resilient import OpenAI
     client = OpenAI(api_key=..., base_url="https://api.deepseek.com",
                     providers=[OpenAICompatible(name="backup", ...)])   # optional

openai-python builds its own types, raises its own exceptions and keeps every helper; our
pipeline answers ``chat/completions`` over the chain (the caller's endpoint, then
``providers``, then the embedded local model when ``local=True``). Other endpoints go to the
caller's endpoint only. openai's own retries are off: ``max_retries`` is our retry count for
the caller's endpoint (``client.max_retries`` reads 0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import openai

from .._client.options import PolicyOptions
from .._core.errors import ConfigurationError
from .._providers.base import Provider
from .chain import build_chain, endpoint_provider
from .wire import CALL_HEADERS

__all__ = ["AsyncOpenAI", "OpenAI"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEEPSEEK_BASE_URL = "https://api.deepseek.com"
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2
_POLICY_KEYS = frozenset(PolicyOptions.__annotations__)
#: openai-python 3.x speaks httpx2; 2.x speaks httpx (an adapter over the same engine).
LEGACY = int(openai.__version__.split(".")[0]) < 3

if LEGACY:  # pragma: no cover - run in the openai 2.x environment
    import httpx as _http  # type: ignore[no-redef,unused-ignore]

    from .httpx_compat import AsyncHttpxResilientTransport as _AsyncTransport
    from .httpx_compat import HttpxResilientTransport as _SyncTransport
else:
    import httpx2 as _http  # type: ignore[no-redef,unused-ignore]

    from .transport import (  # type: ignore[assignment,unused-ignore]
        AsyncResilientTransport as _AsyncTransport,
    )
    from .transport import (  # type: ignore[assignment,unused-ignore]
        ResilientTransport as _SyncTransport,
    )


@dataclass
class _Settings:
    """What a drop-in client's transport is built from (kept for ``copy()``)."""

    providers: tuple[Provider, ...] = ()
    local: bool = True
    policy: dict[str, Any] = field(default_factory=dict)
    max_retries: int = DEFAULT_MAX_RETRIES
    endpoint: tuple[Any, ...] = ()
    #: HTTP clients already built for other settings by ``copy()`` of this client's family,
    #: so ``client.with_options(max_retries=5)`` in a loop builds one transport, not many.
    built: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        policy = tuple(sorted((k, id(v)) for k, v in self.policy.items()))
        return (self.endpoint, tuple(id(p) for p in self.providers), self.local, policy)


def _given(value: Any) -> bool:
    return value is not None and not isinstance(value, openai.NotGiven) and value is not openai.omit


def _resolve(kwargs: dict[str, Any]) -> bool:
    """openai's environment defaults, filled in so the endpoint provider sees them; with only
    ``DEEPSEEK_API_KEY`` set, the endpoint is DeepSeek."""
    if not _given(kwargs.get("api_key")) and not os.environ.get("OPENAI_API_KEY"):
        no_url = not _given(kwargs.get("base_url")) and not os.environ.get("OPENAI_BASE_URL")
        if no_url and os.environ.get("DEEPSEEK_API_KEY"):
            kwargs["api_key"] = os.environ["DEEPSEEK_API_KEY"]
            kwargs["base_url"] = os.environ.get("DEEPSEEK_BASE_URL") or DEEPSEEK_BASE_URL
            return True
    return False


def _endpoint_key(kwargs: Mapping[str, Any], max_retries: int) -> tuple[Any, ...]:
    base_url = kwargs.get("base_url")
    base_url = str(base_url) if _given(base_url) else os.environ.get("OPENAI_BASE_URL")
    api_key = kwargs.get("api_key")
    api_key = api_key if _given(api_key) else os.environ.get("OPENAI_API_KEY")
    org = kwargs.get("organization") or os.environ.get("OPENAI_ORG_ID")
    project = kwargs.get("project") or os.environ.get("OPENAI_PROJECT_ID")
    headers = tuple(sorted((kwargs.get("default_headers") or {}).items()))
    # A total timeout travels with each request; only per-phase limits shape the endpoint.
    phases = tuple(sorted(_phases(kwargs.get("timeout"))[1].items()))
    base_url = (base_url or OPENAI_BASE_URL).rstrip("/")
    return (base_url, api_key, org, project, headers, max_retries, phases)


def _phases(timeout: Any) -> tuple[float, dict[str, float]]:
    """The total deadline and the endpoint's read / connect limits from openai's timeout."""
    if not _given(timeout):
        return DEFAULT_TIMEOUT, {}
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout), {}
    phases = {"read_timeout": getattr(timeout, "read", None),
              "connect_timeout": getattr(timeout, "connect", None)}  # fmt: skip
    set_ = {k: float(v) for k, v in phases.items() if isinstance(v, (int, float))}
    values = [getattr(timeout, p, None) for p in ("read", "write", "connect", "pool")]
    total = max((float(v) for v in values if isinstance(v, (int, float))), default=DEFAULT_TIMEOUT)
    return total, set_


def _setup(kwargs: dict[str, Any], providers: Sequence[Provider] | None, local: bool | None,
           max_retries: int, parent: Any) -> _Settings:  # fmt: skip
    """Split our arguments from openai's (``kwargs`` keeps openai's), inheriting a parent's."""
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    policy = {k: kwargs.pop(k) for k in list(kwargs) if k in _POLICY_KEYS}
    inherited: _Settings = parent._dr if parent is not None else _Settings()
    if providers is not None and not all(isinstance(p, Provider) for p in providers):
        raise ConfigurationError("providers must be Provider instances")
    deepseek = _resolve(kwargs) or (parent is not None and parent._dr.endpoint[-1])
    return _Settings(
        providers=tuple(providers) if providers is not None else inherited.providers,
        local=local if local is not None else inherited.local,
        policy={**inherited.policy, **policy},
        max_retries=max_retries,
        endpoint=(*_endpoint_key(kwargs, max_retries), deepseek),
        built=inherited.built,
    )


def _chain(settings: _Settings, timeout: Any) -> tuple[list[Provider], dict[str, Any]]:
    base_url, api_key, org, project, headers, max_retries, _, deepseek = settings.endpoint
    total, phases = _phases(timeout)
    extra = dict(headers)
    if org:
        extra["OpenAI-Organization"] = org
    if project:
        extra["OpenAI-Project"] = project
    key = api_key if isinstance(api_key, str) else None  # a key callable: sent by openai only
    endpoint = endpoint_provider(
        base_url=str(base_url).rstrip("/"), api_key=key, headers=extra,
        max_retries=max_retries, phases=phases, deepseek=deepseek,
    )  # fmt: skip
    chain = build_chain(endpoint, settings.providers, settings.local)
    return chain, {"timeout": total, **settings.policy}


def _http_client(http_client: Any, parent: Any, settings: _Settings, timeout: Any, *,
                 sync: bool) -> Any:  # fmt: skip
    """The HTTP client carrying our transport: the parent's when ``copy()`` changed nothing
    the transport depends on, one built earlier for the same settings, or a new one."""
    key = settings.key()
    if parent is not None and http_client is parent._client:
        if parent._dr.key() == key:
            return http_client
        if key in settings.built:
            return settings.built[key]
    chain, options = _chain(settings, timeout)
    shared = getattr(getattr(parent, "_client", None), "_transport", None)
    if sync and isinstance(shared, _SyncTransport):  # the same loop thread as the parent
        transport: Any = shared._sibling(chain, **options)
    else:
        transport = (_SyncTransport if sync else _AsyncTransport)(chain, **options)
    built = _mount(http_client, transport, sync=sync)
    if parent is not None:
        settings.built[key] = built
    return built


class _DropIn:
    """What both drop-in clients add to openai's (they differ only in ``_SYNC``)."""

    _SYNC: bool

    def __init__(
        self,
        *,
        providers: Sequence[Provider] | None = None,
        local: bool | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: Any = None,
        _dropin_parent: Any = None,
        **kwargs: Any,
    ) -> None:
        settings = _setup(kwargs, providers, local, max_retries, _dropin_parent)
        http_client = _http_client(
            http_client, _dropin_parent, settings, kwargs.get("timeout"), sync=self._SYNC
        )
        self._dr = settings
        cast(Any, super()).__init__(max_retries=0, http_client=http_client, **kwargs)

    @property
    def transport(self) -> Any:
        """Our transport (``.client``: the resilient client behind it: providers, stats,
        health)."""
        return cast(Any, self)._client._transport

    def copy(self, **kwargs: Any) -> Any:
        """openai's ``copy`` / ``with_options``; ``max_retries=`` sets our retries."""
        if not _given(kwargs.get("max_retries")):
            kwargs["max_retries"] = self._dr.max_retries
        extra = {**(kwargs.pop("_extra_kwargs", None) or {}), "_dropin_parent": self}
        return cast(Any, super()).copy(_extra_kwargs=extra, **kwargs)

    with_options = copy

    def _build_request(self, options: Any, *, retries_taken: int = 0) -> Any:
        """openai's request, with ``CALL_HEADERS`` (an extension: never on the wire) naming
        the call's own headers (``extra_headers``) and, for an ``api_key`` callable,
        ``Authorization`` (the key openai just asked it for): the transport hands those on
        to the caller's endpoint only."""
        request = cast(Any, super())._build_request(options, retries_taken=retries_taken)
        custom = options.headers
        names = []
        if isinstance(custom, Mapping):  # else openai's NOT_GIVEN
            names = [k for k, v in custom.items() if isinstance(v, str)]
        # openai 3.x puts a callable's key in the call's headers itself; 2.x does not.
        if getattr(self, "_api_key_provider", None) is not None:
            names.append("Authorization")
        if names:
            request.extensions[CALL_HEADERS] = tuple({n.lower(): n for n in names}.values())
        return request


class OpenAI(_DropIn, openai.OpenAI):
    """``openai.OpenAI`` over the resilient chain (module docstring). Takes openai's
    arguments, plus ``providers=[...]`` (tried after the caller's endpoint), ``local=``
    (append the embedded local model; default True) and this library's policy options
    (``cache=``, ``breaker=``, ``rate_limit=``, ``hooks=``, ``clock=`` ...)."""

    _SYNC = True


class AsyncOpenAI(_DropIn, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` over the resilient chain (see ``OpenAI``)."""

    _SYNC = False


def _mount(http_client: Any, transport: Any, *, sync: bool) -> Any:
    """An HTTP client carrying ``transport``: a new one, or the caller's (``http_client=``,
    with its headers, auth and event hooks) with its transport replaced by ours."""
    cls = _http.Client if sync else _http.AsyncClient
    ours = (_SyncTransport, _AsyncTransport)
    if http_client is None or isinstance(getattr(http_client, "_transport", None), ours):
        return cls(transport=transport)
    if not isinstance(http_client, cls):
        kind = "sync" if sync else "async"
        raise ConfigurationError(
            f"http_client must be an {cls.__module__}.{cls.__name__} (the {kind} client), "
            f"got {type(http_client).__name__}"
        )
    http_client._transport = transport  # every request goes through the chain
    http_client._mounts = {}
    return http_client
