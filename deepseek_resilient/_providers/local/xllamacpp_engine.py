"""``XLlamaCpp``: the ``LlamaCpp`` engine on ``xllamacpp`` (the default, a prebuilt wheel).

``xllamacpp`` embeds llama.cpp's own server in-process: ``Server(CommonParams)`` loads the
model and runs its decoding loop in a native thread; ``handle_chat_completions(body, cb)``
takes an OpenAI-shaped request and calls ``cb`` with each OpenAI-shaped chunk (releasing the
GIL while it waits).

* Continuous batching: the server has ``parallel`` slots, and the requests in them are decoded
  together, one batch per token step. Each request runs in its own worker thread; our limiter
  admits ``parallel`` of them at once (the rest wait in line, in order).
* Every request is streamed from the engine, even ``complete()``: the callback returns True to
  stop, so a cancelled ``complete()`` or a closed stream ends the generation at the next token
  (the server frees the slot).
* Prefix completion: llama.cpp continues a final assistant message (prefill); the streamed
  chunks carry only the continuation.
* Every request starts from an empty slot (``cache_prompt`` off) so the same greedy request
  gets the same answer whatever ran before, unless ``reuse_prefix=True``.
* The OpenMP wait policy is set to passive before the engine's module loads (``omp``).
* The embedded server also listens on a random loopback port (xllamacpp cannot turn that
  off); a random API key, never shown, keeps other local processes out of it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..._core.errors import ConfigurationError, LocalModelError
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..messages import check_supported
from .embedded import INSTALL_HINT
from .llama_cpp import HONOURED, LlamaCpp, Trim, prefix_of
from .omp import passive_openmp
from .worker import Emit

__all__ = ["XLlamaCpp"]

#: Chunk keys llama.cpp adds that are not part of the OpenAI shape.
_DROPPED = ("timings", "system_fingerprint")


class XLlamaCpp(LlamaCpp):
    """``LlamaCpp`` on xllamacpp: llama.cpp's server in-process, ``parallel`` slots batched."""

    engine_name = "xllamacpp"

    @classmethod
    def slots(cls, parallel: int) -> int:
        return parallel

    # ------------------------------------------------------------------ loading

    def _load_model(self) -> Any:
        """Start the embedded server with the model (blocking). Raises ``LocalModelError``."""
        passive_openmp()
        try:
            import xllamacpp
        except ImportError as exc:
            raise LocalModelError(
                f"xllamacpp is not installed; install it with: {INSTALL_HINT}",
                provider=self.name,
            ) from exc
        path = self.model_path
        if not path.is_file():
            raise LocalModelError(f"model file not found: {path}", provider=self.name)
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = self.parallel
        params.n_ctx = self.n_ctx * self.parallel  # one request's context per slot
        params.kv_unified = False  # each slot has its own n_ctx: one request cannot starve others
        params.verbosity = -1  # errors reach the caller as exceptions, not on stderr
        params.endpoint_metrics = True
        params.api_keys = [secrets.token_urlsafe(32)]  # closes the loopback HTTP port
        if self.n_threads is not None:
            params.cpuparams.n_threads = self.n_threads
            params.cpuparams_batch.n_threads = self.n_threads
        if self.seed is not None:
            params.sampling.seed = self.seed
        for key, value in self._engine_kwargs.items():
            if not hasattr(params, key):
                raise ConfigurationError(f"xllamacpp.CommonParams has no {key!r} setting")
            setattr(params, key, value)
        try:
            return xllamacpp.Server(params)
        except Exception as exc:
            raise LocalModelError(
                f"llama.cpp could not load {path}: {type(exc).__name__}: {exc}",
                provider=self.name,
            ) from exc

    def metrics(self) -> dict[str, float]:
        """The engine's counters (``llamacpp:n_decode_total``, ``requests_processing``...),
        empty before the model is loaded."""
        server = self._loaded_model
        if server is None:
            return {}
        out: dict[str, float] = {}
        for line in str(server.handle_metrics()).splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[key] = float(value)
        return out

    # ------------------------------------------------------------------ one request

    def _body(self, request: ChatRequest) -> tuple[dict[str, Any], Trim]:
        """The engine's request body (always streamed, with usage) and the prefix trimmer."""
        body = self._kwargs(request)
        trim = Trim("")
        partial = prefix_of(request)
        if partial is not None:
            kept = partial.rstrip()
            body["messages"][-1] = {"role": "assistant", "content": kept}
            trim = Trim(partial[len(kept) :])
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        body["cache_prompt"] = self.reuse_prefix
        return body, trim

    def _generate(
        self,
        server: Any,
        body: dict[str, Any],
        trim: Trim,
        stop: threading.Event,
        on_chunk: Callable[[dict[str, Any]], bool],
    ) -> None:
        """Run one request in this (worker) thread, handing each chunk to ``on_chunk`` until
        it returns False or ``stop`` is set. Raises ``LocalModelError`` on an engine error."""
        errors: list[Any] = []

        def callback(chunk: dict[str, Any]) -> bool:
            if "error" in chunk or "choices" not in chunk:
                errors.append(chunk.get("error", chunk))
                return True
            for key in _DROPPED:
                chunk.pop(key, None)
            chunk["model"] = self.model
            for choice in chunk["choices"]:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    delta["content"] = trim(delta["content"])
            return stop.is_set() or not on_chunk(chunk)

        if stop.is_set():
            return
        server.handle_chat_completions(body, callback)
        if errors:
            error = errors[0]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise LocalModelError(f"llama.cpp failed: {message}", provider=self.name)

    # ------------------------------------------------------------------ the seam

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        """Generate the whole answer (batched with the other requests in flight)."""
        check_supported(request, self.name, HONOURED)
        server = await self._ensure_loaded()
        body, trim = self._body(request)

        def job(stop: threading.Event) -> dict[str, Any]:
            texts: list[str] = []
            last: dict[str, Any] = {}

            def collect(chunk: dict[str, Any]) -> bool:
                for choice in chunk["choices"]:
                    texts.append((choice.get("delta") or {}).get("content") or "")
                    last["finish_reason"] = choice.get("finish_reason") or last.get("finish_reason")
                last.setdefault("head", chunk)
                if chunk.get("usage"):
                    last["usage"] = chunk["usage"]
                return True

            self._generate(server, body, trim, stop, collect)
            head = last.get("head", {})
            message = {"role": "assistant", "content": "".join(texts)}
            choice = {"index": 0, "message": message, "finish_reason": last.get("finish_reason")}
            raw = {"id": head.get("id", ""), "object": "chat.completion", "model": self.model,
                   "created": head.get("created", 0), "choices": [choice]}  # fmt: skip
            if "usage" in last:
                raw["usage"] = last["usage"]
            return raw

        raw = await self._run(job, name="xllamacpp")
        with self._translated():
            return ChatCompletion.model_validate(raw)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Stream the answer token by token; closing the iterator stops the generation."""
        check_supported(request, self.name, HONOURED)
        server = await self._ensure_loaded()
        body, trim = self._body(request)
        include_usage = bool((request.stream_options or {}).get("include_usage"))

        def job(stop: threading.Event, emit: Emit[dict[str, Any]]) -> None:
            def relay(chunk: dict[str, Any]) -> bool:
                if not chunk["choices"] and not include_usage:
                    return True  # the usage chunk nobody asked for
                return emit(chunk)

            self._generate(server, body, trim, stop, relay)

        async with contextlib.aclosing(self._relay(job, name="xllamacpp-stream")) as raws:
            async for raw in raws:
                yield ChatCompletionChunk.model_validate(raw)
