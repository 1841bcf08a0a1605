"""The clients: ``AsyncClient`` (the core, :mod:`._async_client`) and ``Client`` (a sync facade
over the same coroutines, :mod:`._sync_client`), with their typed options (:mod:`._options`)."""

from __future__ import annotations

from .async_client import AsyncClient
from .options import CallOptions, ClientOptions, CreateParams, PolicyOptions
from .sync_client import Client

__all__ = ["AsyncClient", "CallOptions", "Client", "ClientOptions", "CreateParams", "PolicyOptions"]
