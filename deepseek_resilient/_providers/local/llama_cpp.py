"""``LlamaCpp``: a GGUF model run in-process by llama.cpp, on one of two engines.

* ``engine="xllamacpp"`` (the default when installed): llama.cpp's own server, embedded from
  the prebuilt ``xllamacpp`` wheel (no compiler needed). Its slots batch concurrent requests
  (continuous batching): ``parallel`` requests decode together.
* ``engine="llama-cpp-python"``: the ``llama_cpp.Llama`` bindings (built from source by pip),
  one inference at a time per loaded model.
* ``engine=None``: xllamacpp when it is installed, else llama-cpp-python when that is.

``LlamaCpp(...)`` builds the engine's subclass, so ``isinstance(p, LlamaCpp)`` holds for both.
What they share lives here: the constructor, the request mapping and the sampling defaults
that keep a tiny model from looping (a repeat penalty and a completion cap).

Prefix completion: a request whose last message is an assistant message with
``"prefix": true`` is continued from that partial text (the pipeline uses it to resume a
broken stream). Whitespace at the end of the prefix is held back (the model writes it as part
of its next token) and ``Trim`` drops that repeat from the output.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..._core.errors import ConfigurationError, LocalModelError
from ..._models import ChatCompletion, ChatCompletionChunk, ChatRequest
from ..messages import LOCAL_BASE, plain_messages, stop_list
from .base import LocalProvider
from .embedded import EMBEDDED_MODEL_NAME, embedded_model_path
from .omp import generation_threads, usable_cores

__all__ = ["ENGINES", "HONOURED", "LlamaCpp", "Trim", "pick_engine"]

HONOURED = LOCAL_BASE | {"frequency_penalty", "presence_penalty", "response_format"}
"""The request parameters llama.cpp honours (see ``check_supported``)."""

#: Engine name -> (the module it needs, our module implementing it, the class there).
ENGINES: dict[str, tuple[str, str, str]] = {
    "xllamacpp": ("xllamacpp", "xllamacpp_engine", "XLlamaCpp"),
    "llama-cpp-python": ("llama_cpp", "llama_cpp_python", "LlamaCppPython"),
}


def pick_engine(engine: str | None) -> str:
    """The engine to use: ``engine`` checked, or (None) the first one installed."""
    if engine is None:
        for name, (module, _, _) in ENGINES.items():
            if importlib.util.find_spec(module) is not None:
                return name
        return "xllamacpp"  # neither installed: its error names the install command
    if engine not in ENGINES:
        raise ConfigurationError(
            f"LlamaCpp(engine={engine!r}) is not an engine; use one of {sorted(ENGINES)}"
        )
    return engine


class Trim:
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


def prefix_of(request: ChatRequest) -> str | None:
    """The partial assistant answer to continue, or None when this is a plain request."""
    last = request.messages[-1]
    if last.role != "assistant" or not (last.model_extra or {}).get("prefix"):
        return None
    return plain_messages(request)[-1]["content"]  # type: ignore[no-any-return]


class LlamaCpp(LocalProvider):
    """A local GGUF model through llama.cpp (``pip install 'deepseek-resilient[llama]'``).

    ``model_path``: a ``.gguf`` file; None: the embedded SmolLM2-135M-Instruct.
    ``engine``: "xllamacpp", "llama-cpp-python" or None (the first installed, in that order).
    ``name``: the provider's name in routes and errors. ``model_name``: the model id reported
    in responses (default: the file's stem). ``n_ctx``: the context of one request.
    ``n_threads``: CPU threads that generate, one token per step (None: one for a model file
    up to 300 MB while threads sleep at barriers, the default wait policy; else llama.cpp's
    choice). ``n_threads_batch``: threads for prompts and for requests decoded together (None:
    ``n_threads`` when given; else, when one thread generates, the physical cores the process
    may use, llama.cpp's own default; else llama.cpp's choice). ``seed``: the sampling seed.
    ``warm``: load now instead of on first use. ``max_tokens_default``: the completion cap
    when a request gives no ``max_tokens``. ``repeat_penalty``: applied unless the request
    sets a frequency or presence penalty (1.0 turns it off); with the cap it keeps a tiny
    model from looping. ``parallel`` (xllamacpp): requests decoded together (slots).
    ``chat_format`` and ``reuse_prefix`` (llama-cpp-python): see ``LlamaCppPython``.
    ``**engine_kwargs``: passed to the engine (``llama_cpp.Llama`` keyword arguments, or
    ``xllamacpp.CommonParams`` attributes).
    """

    engine: ClassVar[str] = "llama.cpp"
    #: The engine implementation ("xllamacpp" or "llama-cpp-python").
    engine_name: ClassVar[str] = ""
    prefix_completion = True

    def __new__(cls, *args: Any, engine: str | None = None, **kwargs: Any) -> LlamaCpp:
        if cls is LlamaCpp:
            module, impl = ENGINES[pick_engine(engine)][1:]
            cls = getattr(importlib.import_module(f"{__package__}.{module}"), impl)
        return super().__new__(cls)

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        engine: str | None = None,
        name: str = "local",
        model_name: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        warm: bool = False,
        seed: int | None = None,
        max_tokens_default: int = 256,
        repeat_penalty: float = 1.2,
        parallel: int = 8,
        chat_format: str | None = None,
        reuse_prefix: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        if engine is not None and engine != self.engine_name:
            pick_engine(engine)  # a bad name raises ConfigurationError
            raise ConfigurationError(
                f"{type(self).__name__} is the {self.engine_name!r} engine, not {engine!r}"
            )
        if parallel < 1:
            raise ConfigurationError(f"LlamaCpp(parallel={parallel}) must be at least 1")
        super().__init__(name, concurrency=self.slots(parallel))
        self._path = Path(model_path).expanduser() if model_path is not None else None
        if model_name is not None:
            self.model = model_name
        elif self._path is not None:
            self.model = self._path.stem
        else:
            self.model = EMBEDDED_MODEL_NAME
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_threads_batch = n_threads_batch
        self.seed = seed
        self.max_tokens_default = max_tokens_default
        self.repeat_penalty = repeat_penalty
        self.parallel = parallel
        self.chat_format = chat_format
        self.reuse_prefix = reuse_prefix
        self._engine_kwargs = engine_kwargs
        if warm:
            self._load()

    @classmethod
    def slots(cls, parallel: int) -> int:
        """How many requests this engine runs at once (one unless it batches)."""
        return 1

    @property
    def model_path(self) -> Path:
        """The GGUF file this provider runs (locates the embedded one when none was given)."""
        if self._path is not None:
            return self._path
        return embedded_model_path(provider=self.name)

    def _model_file(self) -> Path:
        """``model_path``, checked to be a file: what an engine loads. ``LocalModelError``
        otherwise."""
        path = self.model_path
        if not path.is_file():
            raise LocalModelError(f"model file not found: {path}", provider=self.name)
        return path

    def _threads(self, path: Path, openmp: Mapping[str, str]) -> tuple[int | None, int | None]:
        """(threads for one-token steps, threads for steps of several tokens) for the model at
        ``path`` under the OpenMP settings in force; None is llama.cpp's choice."""
        generate = generation_threads(self.n_threads, path.stat().st_size, openmp)
        batch = self.n_threads if self.n_threads_batch is None else self.n_threads_batch
        if batch is None and generate is not None:
            batch = usable_cores()  # else llama.cpp would give these steps ``generate`` too
        return generate, batch

    # ``LlamaCpp(...)`` is always an engine subclass, which implements these three.

    def _load_model(self) -> Any:
        raise NotImplementedError

    async def complete(self, request: ChatRequest, *, idle_timeout: float) -> ChatCompletion:
        raise NotImplementedError

    def stream(
        self, request: ChatRequest, *, idle_timeout: float
    ) -> AsyncIterator[ChatCompletionChunk]:
        raise NotImplementedError

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        """The request as llama.cpp's chat-completion arguments, with our sampling defaults."""
        kw: dict[str, Any] = {
            "messages": plain_messages(request),
            "max_tokens": request.output_limit or self.max_tokens_default,
        }
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "frequency_penalty": request.frequency_penalty,
            "presence_penalty": request.presence_penalty,
            "response_format": request.response_format,
        }
        kw.update((k, v) for k, v in optional.items() if v is not None)
        if request.frequency_penalty is None and request.presence_penalty is None:
            kw["repeat_penalty"] = self.repeat_penalty
        stops = stop_list(request)
        if stops:
            kw["stop"] = stops
        return kw
