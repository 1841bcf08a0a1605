"""``LlamaCppPython``: the ``LlamaCpp`` engine on llama-cpp-python (``engine="llama-cpp-python"``,
``pip install 'deepseek-resilient[llama-cpp-python]'``; pip builds it from source).

* Lazy: the model loads on first use (in a worker thread, once even when many calls race),
  or at construction with ``warm=True``. The chat template is the GGUF's own (unless
  ``chat_format`` names another).
* One inference at a time per loaded model: a ``CapacityLimiter(1)`` per event loop (made
  lazily inside the loop) queues callers, and a thread lock makes it hold across loops.
* Worker threads cannot be cancelled, so generation checks a stop flag between tokens: a
  cancelled ``complete()`` or a closed stream stops llama.cpp at the next token.
* Prefix completion: the chat template is rendered for the messages before the prefix with
  the assistant turn open (no end-of-turn), the partial text appended, and the model
  generates from there.
* ``reuse_prefix``: keep llama.cpp's KV cache between requests and evaluate only the part of
  a prompt that differs from the previous one (faster for long shared prompts, but greedy
  output then depends slightly on what ran before); by default every request starts from an
  empty context, so the same greedy request always gets the same answer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..._core.errors import LocalModelError
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..messages import check_supported, plain_messages
from .embedded import install_hint
from .llama_cpp import HONOURED, LlamaCpp, Trim, prefix_of
from .omp import passive_openmp
from .worker import Emit

__all__ = ["LlamaCppPython"]

#: What to install for this engine.
PYTHON_HINT = install_hint("llama-cpp-python")


class _Stopped(Exception):
    """The caller left before the job started."""


class LlamaCppPython(LlamaCpp):
    """``LlamaCpp`` on llama-cpp-python: one inference at a time per loaded model."""

    engine_name = "llama-cpp-python"

    # ------------------------------------------------------------------ loading

    @property
    def _llm(self) -> Any:
        """The loaded ``llama_cpp.Llama`` (None before loading)."""
        return self._loaded_model

    def _load_model(self) -> Any:
        """Load the model (blocking; once, under the load lock). Raises ``LocalModelError``."""
        try:
            openmp = passive_openmp("llama_cpp")
            from llama_cpp import Llama
        except ImportError as exc:
            raise LocalModelError(
                f"llama-cpp-python is not installed; install it with: {PYTHON_HINT}",
                provider=self.name,
            ) from exc
        path = self._model_file()
        kwargs: dict[str, Any] = {"n_ctx": self.n_ctx, "verbose": False}
        generate, batch = self._threads(path, openmp)
        if generate is not None:
            kwargs["n_threads"] = generate
        if batch is not None:
            kwargs["n_threads_batch"] = batch
        if self.chat_format is not None:
            kwargs["chat_format"] = self.chat_format
        if self.seed is not None:
            kwargs["seed"] = self.seed
        kwargs.update(self._engine_kwargs)
        try:
            return Llama(model_path=str(path), **kwargs)
        except Exception as exc:
            raise LocalModelError(
                f"llama.cpp could not load {path}: {type(exc).__name__}: {exc}",
                provider=self.name,
            ) from exc

    # ------------------------------------------------------------------ request mapping

    def _continuation(self, llm: Any, request: ChatRequest) -> dict[str, Any] | None:
        """``create_completion`` kwargs continuing the final assistant prefix, or None when
        the request is not a continuation. Raises ``LocalModelError`` without a template."""
        partial = prefix_of(request)
        if partial is None:
            return None
        template = (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template")
        if not template:
            raise LocalModelError(
                "prefix completion needs the GGUF's own chat template", provider=self.name
            )
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return bytes(llm.detokenize([token], special=True)).decode("utf-8", "replace")

        eos, bos = token_text(int(llm.token_eos())), token_text(int(llm.token_bos()))
        formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        messages = plain_messages(request)
        # The turns before the prefix, the assistant turn opened, then the partial answer.
        head = formatter(messages=messages[:-1]).prompt  # type: ignore[arg-type,unused-ignore]
        # Whitespace at the end of the prefix is held back: the model writes it as part of
        # its next token (" word"), and ``Trim`` drops that repeat from the output.
        kept = partial.rstrip()
        prompt = head + kept
        kw = self._kwargs(request)
        kw.pop("messages")
        kw.pop("response_format", None)
        kw["stop"] = [*kw.get("stop", []), eos]
        return {"prompt": prompt, "_trim": partial[len(kept) :], **kw}

    @staticmethod
    def _as_chat(raw: dict[str, Any], *, chunk: bool, trim: Trim) -> dict[str, Any]:
        """A text completion (or one of its chunks) from llama.cpp as the chat shape."""
        choices = []
        for c in raw.get("choices", ()):
            text = trim(c.get("text") or "")
            body = {"delta": {"content": text}} if chunk else {
                "message": {"role": "assistant", "content": text}
            }  # fmt: skip
            choices.append({"index": c.get("index", 0), "finish_reason": c.get("finish_reason"),
                            **body})  # fmt: skip
        kind = "chat.completion.chunk" if chunk else "chat.completion"
        out = {"id": raw.get("id", ""), "object": kind, "created": raw.get("created", 0),
               "choices": choices}  # fmt: skip
        if raw.get("usage"):
            out["usage"] = raw["usage"]
        return out

    def _fresh_context(self, llm: Any) -> None:
        """Forget the previous prompt unless prefix reuse is on (worker thread, under lock)."""
        if not self.reuse_prefix:
            llm.reset()

    # ------------------------------------------------------------------ the seam

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        """Generate the whole answer in a worker thread (one at a time per model)."""
        check_supported(request, self.name, HONOURED)
        llm = await self._ensure_loaded()
        continuation = self._continuation(llm, request)
        kwargs = self._kwargs(request) if continuation is None else continuation
        trim = Trim(kwargs.pop("_trim", ""))

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
                processors = LogitsProcessorList([end_if_stopped])
                if continuation is not None:
                    text = llm.create_completion(logits_processor=processors, **kwargs)
                    return self._as_chat(text, chunk=False, trim=trim)
                result: dict[str, Any] = llm.create_chat_completion(
                    logits_processor=processors, **kwargs
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
        check_supported(request, self.name, HONOURED)
        llm = await self._ensure_loaded()
        continuation = self._continuation(llm, request)
        kwargs = self._kwargs(request) if continuation is None else continuation
        trim = Trim(kwargs.pop("_trim", ""))
        include_usage = bool((request.stream_options or {}).get("include_usage"))

        def job(stop: threading.Event, emit: Emit[dict[str, Any]]) -> None:
            with self._infer_lock:
                if stop.is_set():
                    return
                self._fresh_context(llm)
                chunks: Iterator[dict[str, Any]]
                if continuation is not None:
                    chunks = (
                        self._as_chat(c, chunk=True, trim=trim)
                        for c in llm.create_completion(stream=True, **kwargs)
                    )
                else:
                    chunks = llm.create_chat_completion(stream=True, **kwargs)
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
