"""The DeepSeek preset: key and base URL from the environment, thinking defaults, retired
model names, the beta endpoint for prefix completion, and JSON mode's empty answers."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ..._core.errors import APIStatusError, ConfigurationError, NotFoundError, ProviderError
from ..._core.lazy import LazyModule
from ..._core.omit import accepts_omitted
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..base import ProviderUnavailableError
from .body import encode_json
from .openai_compat import OpenAICompatible

if TYPE_CHECKING:
    import httpx2
else:
    httpx2 = LazyModule("httpx2")  # imported when the first HTTP provider is built

__all__ = [
    "DEEPSEEK_BASE_URL",
    "NO_KEY_NOTE",
    "RETIRED_MODELS",
    "DeepSeek",
    "MissingAPIKeyWarning",
    "RetiredModelWarning",
]

DEEPSEEK_BASE_URL = "https://api.deepseek.com"


class RetiredModelWarning(UserWarning):
    """A retired model name was configured, as in ``DeepSeek(model="deepseek-chat")``."""


class MissingAPIKeyWarning(UserWarning):
    """``DeepSeek()`` was built without a key (none given, ``DEEPSEEK_API_KEY`` unset): every
    request skips it and goes to the next provider."""


#: The route note of a request that skipped a DeepSeek without a key.
NO_KEY_NOTE = "DEEPSEEK_API_KEY is not set"

#: Names DeepSeek retired on 2026-07-24, with what to use instead.
RETIRED_MODELS: dict[str, str] = {
    "deepseek-chat": "deepseek-flash",
    "deepseek-reasoner": "deepseek-v4-pro",
}
_USE_INSTEAD = "use model='deepseek-flash' (or 'deepseek-v4-pro' in place of deepseek-reasoner)"


class DeepSeek(OpenAICompatible):
    """DeepSeek's API. The key comes from ``api_key`` or ``$DEEPSEEK_API_KEY``; the base URL
    from ``base_url``, ``$DEEPSEEK_BASE_URL`` (a proxy, a test server) or the public API.
    Without a key it warns once (``MissingAPIKeyWarning``) and every request skips it, with
    the route note "deepseek skipped: DEEPSEEK_API_KEY is not set".

    ``thinking`` (``True`` / ``False`` or ``{"type": "enabled" | "disabled"}``) and
    ``reasoning_effort`` are defaults for every request this provider sends; a request's own
    value wins. Unset, DeepSeek's default applies (thinking on, effort ``high``). A retired
    model name warns (``RetiredModelWarning``); DeepSeek's "model does not exist" answer
    becomes a ``NotFoundError`` that names the model to use. In JSON mode
    (``response_format={"type": "json_object"}``) an empty answer is asked again once.
    See docs/deepseek.md.

    Continuations (chat prefix completion) go to the beta endpoint
    ``{base_url}/beta/chat/completions``.
    """

    prefix_completion = True

    @property
    def prefix_url(self) -> str:
        # The beta API sits beside the versioned one: https://api.deepseek.com/beta
        return f"{self.base_url.removesuffix('/v1')}/beta/chat/completions"

    @accepts_omitted
    def __init__(
        self,
        model: str = "deepseek-flash",
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        name: str = "deepseek",
        thinking: bool | Mapping[str, Any] | None = None,
        reasoning_effort: str | None = None,
        **options: Any,
    ) -> None:
        base_url = base_url or os.environ.get("DEEPSEEK_BASE_URL") or DEEPSEEK_BASE_URL
        key = api_key or os.environ.get("DEEPSEEK_API_KEY") or None
        if key is None:
            warnings.warn(
                MissingAPIKeyWarning(
                    f"{name}: no API key (pass DeepSeek(api_key=...) or set DEEPSEEK_API_KEY); "
                    "requests skip this provider and go to the next one"
                ),
                stacklevel=2,
            )
        if model in RETIRED_MODELS:
            warnings.warn(
                RetiredModelWarning(
                    f"DeepSeek retired {model!r} on 2026-07-24: requests with it fail; "
                    f"use model={RETIRED_MODELS[model]!r}"
                ),
                stacklevel=3,  # the caller's line (past accepts_omitted's wrapper)
            )
        try:
            self.thinking: dict[str, Any] | None = ChatRequest._thinking(
                dict(thinking) if isinstance(thinking, Mapping) else thinking
            )
        except ValueError as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
        if reasoning_effort is not None and not isinstance(reasoning_effort, str):
            raise ConfigurationError(f"{name}: reasoning_effort must be a string")
        self.reasoning_effort = reasoning_effort
        super().__init__(base_url=base_url, model=model, name=name, api_key=key, **options)

    def unavailable(self) -> ProviderUnavailableError | None:
        """Without a key every request skips DeepSeek (route note: no key), with no I/O."""
        if self.api_key is None:
            return ProviderUnavailableError(NO_KEY_NOTE, provider=self.name)
        return None

    @property
    def identity(self) -> str:
        """The base identity plus the thinking defaults, which change the answers."""
        return f"{super().identity}|{self.thinking}|{self.reasoning_effort}"

    def _body(self, request: ChatRequest) -> bytes:
        body = request.to_wire(self.model)
        if self.thinking is not None:
            body.setdefault("thinking", self.thinking)
        if self.reasoning_effort is not None:
            body.setdefault("reasoning_effort", self.reasoning_effort)
        return encode_json(body)

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        answer = await super().complete(request, idle_timeout=idle_timeout)
        if _json_mode(request) and _blank(answer):
            # DeepSeek documents that JSON mode may answer with empty content: ask once more.
            try:
                return await super().complete(request, idle_timeout=idle_timeout)
            except ProviderError:
                return answer
        return answer

    def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        """As ``OpenAICompatible.stream``; in JSON mode a stream that ends with no content is
        asked again once, as ``complete`` does (``_json_stream``)."""
        if not _json_mode(request):
            return super().stream(request, idle_timeout=idle_timeout)
        return self._json_stream(request, idle_timeout)

    def plain_stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncGenerator[Any, None]:
        """As ``OpenAICompatible.plain_stream``, with JSON mode's second ask."""
        if not _json_mode(request):
            return self._stream(request, idle_timeout, plain=True)
        return self._json_stream(request, idle_timeout)

    async def _json_stream(
        self, request: ChatRequest, idle_timeout: float
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        """The stream of a JSON-mode request: the chunks before the first content are held
        back until some arrives; a stream that ends with none is asked again once."""
        answered = False
        first: list[ChatCompletionChunk] = []
        held: list[ChatCompletionChunk] = []
        for again in (False, True):
            held = []
            try:
                async with contextlib.aclosing(
                    super().stream(request, idle_timeout=idle_timeout)
                ) as src:
                    async for chunk in src:
                        if not answered and not _says_something(chunk):
                            held.append(chunk)
                            continue
                        if not answered:
                            answered = True
                            for waiting in held:
                                yield waiting
                        yield chunk
            except ProviderError:
                if answered or not again:
                    raise
                held = first  # asking again failed: the first (empty) answer is the answer
                break
            if answered:
                return
            first = held
        for waiting in held:
            yield waiting

    def _status_error(
        self, response: httpx2.Response, content: bytes | None = None
    ) -> ProviderError:
        error = super()._status_error(response, content)
        code = response.status_code
        if code in (400, 404, 422) and _says_no_such_model(error.message):
            model = _sent_model(response) or self.model
            retired = " (retired on 2026-07-24)" if model in RETIRED_MODELS else ""
            assert isinstance(error, APIStatusError)
            return NotFoundError(
                f"HTTP {code}: model {model!r} is unknown to DeepSeek{retired}; {_USE_INSTEAD}",
                provider=self.name,
                status_code=code,
                body=error.body,
                request_id=error.request_id,
            )
        return error


def _json_mode(request: ChatRequest) -> bool:
    return bool(request.response_format and request.response_format.get("type") == "json_object")


def _says_something(chunk: ChatCompletionChunk) -> bool:
    """Content, a tool call or reasoning: once sent on, the answer cannot be asked again
    (reasoning is not held back: it keeps the first-token limit from running out)."""
    return any(
        (c.delta.content or "").strip() or c.delta.tool_calls or c.delta.reasoning_content
        for c in chunk.choices
    )


def _blank(answer: ChatCompletion) -> bool:
    return all(
        not (c.message.content or "").strip() and not c.message.tool_calls for c in answer.choices
    )


def _says_no_such_model(message: str) -> bool:
    text = message.lower()
    return (
        "model not exist" in text
        or "model not found" in text
        or ("model" in text and "does not exist" in text)
    )


def _sent_model(response: httpx2.Response) -> str | None:
    try:
        model = json.loads(response.request.content).get("model")
    except (ValueError, AttributeError, RuntimeError):
        return None
    return model if isinstance(model, str) else None
