"""The resource namespaces of the clients (``client.chat.completions``, ``client.models``),
async and sync, shaped as openai-python's."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio
from typing_extensions import Unpack

from .._core.errors import ProviderError, all_failed
from .._models import ChatCompletion, ChatCompletionMessage, ChatMessage, Model, ModelList
from .._streaming.streams import AsyncStream, Stream
from .options import CreateParams

if TYPE_CHECKING:
    from .async_client import AsyncClient
    from .sync_client import Client

__all__ = ["AsyncChat", "AsyncModels", "Chat", "MessageInput", "Models"]

MessageInput = ChatMessage | ChatCompletionMessage | Mapping[str, Any]


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


class AsyncChat:
    def __init__(self, client: AsyncClient) -> None:
        self.completions = _AsyncCompletions(client)


class AsyncModels:
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
            raise all_failed(errors)
        return ModelList(data=models)


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


class Chat:
    def __init__(self, client: Client) -> None:
        self.completions = _Completions(client)


class Models:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> ModelList:
        """The models of the whole chain (see ``AsyncClient.models.list``)."""
        return self._client._run(self._client._async.models.list)
