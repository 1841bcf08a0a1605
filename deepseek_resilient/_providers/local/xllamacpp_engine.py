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
* Tool calls in a generic JSON format any chat template can carry (``tool_calls``): the
  tools go in a system message and a JSON-schema grammar constrains the answer to a call or,
  with ``tool_choice="auto"``, a reply. A streamed tool answer arrives whole, at the end.
* ``extra_body`` keys reach the engine as llama.cpp request fields (``ignore_eos``,
  ``top_k``, ``min_p``, ``repeat_penalty``...), over our defaults.
* The embedded server also listens on a random loopback port (xllamacpp cannot turn that
  off); a random API key, never shown, keeps other local processes out of it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..._core.errors import ConfigurationError, LocalModelError, UnsupportedParameterError
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..messages import check_supported
from .embedded import INSTALL_HINT
from .llama_cpp import HONOURED, LlamaCpp, Trim, prefix_of
from .omp import passive_openmp
from .tool_calls import ToolPlan, show_calls, tool_plan
from .worker import Emit

__all__ = ["XLlamaCpp"]

#: Chunk keys llama.cpp adds that are not part of the OpenAI shape.
_DROPPED = ("timings", "system_fingerprint")
#: What xllamacpp honours beyond the shared llama.cpp set.
_HONOURED = HONOURED | {"tools", "tool_choice", "functions"}
#: Body fields ``extra_body`` may not replace (the engine protocol relies on them).
_OURS = frozenset({"messages", "stream", "stream_options", "cache_prompt"})


class XLlamaCpp(LlamaCpp):
    """``LlamaCpp`` on xllamacpp: llama.cpp's server in-process, ``parallel`` slots batched."""

    engine_name = "xllamacpp"

    @classmethod
    def slots(cls, parallel: int) -> int:
        return parallel

    # ------------------------------------------------------------------ loading

    def _load_model(self) -> Any:
        """Start the embedded server with the model (blocking). Raises ``LocalModelError``."""
        openmp = passive_openmp("xllamacpp")
        try:
            import xllamacpp
        except ImportError as exc:
            raise LocalModelError(
                f"xllamacpp is not installed; install it with: {INSTALL_HINT}",
                provider=self.name,
            ) from exc
        path = self._model_file()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = self.parallel
        params.n_ctx = self.n_ctx * self.parallel  # one request's context per slot
        params.kv_unified = False  # each slot has its own n_ctx: one request cannot starve others
        params.verbosity = -1  # errors reach the caller as exceptions, not on stderr
        params.endpoint_metrics = True
        params.api_keys = [secrets.token_urlsafe(32)]  # closes the loopback HTTP port
        generate, batch = self._threads(path, openmp)
        if generate is not None:
            params.cpuparams.n_threads = generate
        if batch is not None:
            params.cpuparams_batch.n_threads = batch
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

    def _body(self, request: ChatRequest) -> tuple[dict[str, Any], Trim, ToolPlan | None]:
        """The engine's request body (always streamed, with usage), the prefix trimmer and the
        tool plan (None: a plain answer)."""
        check_supported(request, self.name, _HONOURED)
        body = self._kwargs(request)
        body.update((k, v) for k, v in (request.extra_body or {}).items() if k not in _OURS)
        show_calls(request, body["messages"])
        plan = tool_plan(request, provider=self.name)
        if plan is not None:
            if (request.response_format or {}).get("type", "text") != "text":
                raise UnsupportedParameterError(
                    "tools and a response_format cannot be combined locally",
                    provider=self.name,
                    parameter="response_format",
                )
            plan.apply(body)
            if "repeat_penalty" in body and "repeat_penalty" not in (request.extra_body or {}):
                body["repeat_penalty"] = 1.0  # JSON repeats its quotes and braces by design
        trim = Trim("")
        partial = prefix_of(request)
        if partial is not None:
            kept = partial.rstrip()
            body["messages"][-1] = {"role": "assistant", "content": kept}
            trim = Trim(partial[len(kept) :])
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        body["cache_prompt"] = self.reuse_prefix
        return body, trim, plan

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

    def _whole(
        self, server: Any, body: dict[str, Any], trim: Trim, stop: threading.Event
    ) -> tuple[dict[str, Any], str, str | None, dict[str, Any] | None]:
        """Run one request to its end (worker thread): the first chunk, the text, the finish
        reason and the usage."""
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
        return last.get("head", {}), "".join(texts), last.get("finish_reason"), last.get("usage")

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        """Generate the whole answer (batched with the other requests in flight)."""
        body, trim, plan = self._body(request)
        server = await self._ensure_loaded()

        def job(stop: threading.Event) -> dict[str, Any]:
            head, text, finish, usage = self._whole(server, body, trim, stop)
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if plan is not None:
                message, finish = plan.message(text)
            choice = {"index": 0, "message": message, "finish_reason": finish}
            raw = {"id": head.get("id", ""), "object": "chat.completion", "model": self.model,
                   "created": head.get("created", 0), "choices": [choice]}  # fmt: skip
            if usage:
                raw["usage"] = usage
            return raw

        raw = await self._run(job, name="xllamacpp")
        with self._translated():
            return ChatCompletion.model_validate(raw)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Stream the answer token by token; closing the iterator stops the generation."""
        body, trim, plan = self._body(request)
        server = await self._ensure_loaded()
        include_usage = bool((request.stream_options or {}).get("include_usage"))

        def relay_tokens(stop: threading.Event, emit: Emit[dict[str, Any]]) -> None:
            def relay(chunk: dict[str, Any]) -> bool:
                if not chunk["choices"] and not include_usage:
                    return True  # the usage chunk nobody asked for
                return emit(chunk)

            self._generate(server, body, trim, stop, relay)

        def relay_answer(stop: threading.Event, emit: Emit[dict[str, Any]]) -> None:
            assert plan is not None
            head, text, _, usage = self._whole(server, body, trim, stop)
            message, finish = plan.message(text)
            base = {"id": head.get("id", ""), "object": "chat.completion.chunk",
                    "created": head.get("created", 0), "model": self.model}  # fmt: skip
            chunks = plan.chunks(base, message, finish)
            if include_usage and usage:
                chunks.append({**base, "choices": [], "usage": usage})
            for chunk in chunks:
                if not emit(chunk):
                    return

        job = relay_tokens if plan is None else relay_answer
        async with contextlib.aclosing(self._relay(job, name="xllamacpp-stream")) as raws:
            async for raw in raws:
                yield ChatCompletionChunk.model_validate(raw)
