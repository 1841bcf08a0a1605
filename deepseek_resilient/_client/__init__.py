"""The clients: ``AsyncClient`` (the core, :mod:`.async_client`) and ``Client`` (a sync facade
over the same coroutines, :mod:`.sync_client`), with their typed options (:mod:`.options`).

``Client`` and its loop thread load on first use of the name: ``import deepseek_resilient``
does not import them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .async_client import AsyncClient
from .options import CallOptions, ClientOptions, CreateParams, PolicyOptions

if TYPE_CHECKING:
    from .sync_client import Client

__all__ = ["AsyncClient", "CallOptions", "Client", "ClientOptions", "CreateParams", "PolicyOptions"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from .sync_client import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
