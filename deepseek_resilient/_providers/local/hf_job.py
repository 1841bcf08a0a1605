"""Transformers: map a chat request to a generation job, and a generated row to a result."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from ..._core.errors import LocalModelError
from ..._models import ChatRequest
from ..messages import StopScanner, plain_messages, stop_list
from .hf_load import HFModel

__all__ = ["GenJob", "GenResult", "finish_row", "generate_kwargs", "make_job"]


@dataclass(frozen=True)
class GenJob:
    """One request, ready for the model."""

    prompt: str
    max_tokens: int
    do_sample: bool
    temperature: float
    top_p: float | None
    seed: int | None
    stops: tuple[str, ...]

    @property
    def sampling_key(self) -> Hashable:
        """Requests with equal keys can share one ``generate`` call."""
        if not self.do_sample:
            return ("greedy",)
        return ("sample", self.temperature, self.top_p, self.seed)


@dataclass(frozen=True)
class GenResult:
    """One request's answer: its text, finish reason and token counts."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def make_job(
    model: HFModel, request: ChatRequest, *, max_tokens_default: int, provider: str
) -> GenJob:
    """Render the chat template and collect the sampling settings of ``request``."""
    temperature = request.temperature
    do_sample = temperature is not None and temperature > 0
    try:
        prompt = model.tok.apply_chat_template(
            plain_messages(request), add_generation_prompt=True, tokenize=False
        )
    except Exception as exc:
        raise LocalModelError(
            f"the chat template failed: {type(exc).__name__}: {exc}", provider=provider
        ) from exc
    return GenJob(
        prompt=str(prompt),
        max_tokens=request.output_limit or max_tokens_default,
        do_sample=do_sample,
        temperature=float(temperature or 0.0),
        top_p=request.top_p,
        seed=request.seed,
        stops=tuple(stop_list(request)),
    )


def generate_kwargs(model: HFModel, job: GenJob) -> dict[str, Any]:
    """The sampling arguments of ``generate`` for ``job``."""
    kw: dict[str, Any] = {
        "do_sample": job.do_sample,
        "pad_token_id": model.tok.pad_token_id,
        "eos_token_id": list(model.eos_ids) or None,
    }
    if job.do_sample:
        kw["temperature"] = job.temperature
        kw["top_p"] = job.top_p if job.top_p is not None else 1.0
        kw["top_k"] = 0
    else:
        kw["temperature"] = None
        kw["top_p"] = None
        kw["top_k"] = None
    return kw


def finish_row(model: HFModel, ids: list[int], job: GenJob, prompt_tokens: int) -> GenResult:
    """Cut one generated row at its EOS, ``max_tokens`` and stop strings; count its tokens."""
    tok = model.tok
    ids = ids[: job.max_tokens]  # rows that hit their limit are padded after it
    cut = next((i for i, t in enumerate(ids) if t in model.eos_ids), None)
    if cut is not None:
        ids, finish = ids[:cut], "stop"
    elif len(ids) >= job.max_tokens:
        finish = "length"
    else:
        finish = "stop"
    text = tok.decode(ids, skip_special_tokens=True)
    if job.stops:
        scanner = StopScanner(list(job.stops))
        kept, found = scanner.cut(text)
        if found:
            # The fewest tokens whose text already holds the stop string.
            lo, hi = 1, len(ids)
            while lo < hi:
                mid = (lo + hi) // 2
                if scanner.cut(tok.decode(ids[:mid], skip_special_tokens=True))[1]:
                    hi = mid
                else:
                    lo = mid + 1
            ids = ids[:lo]
            text, finish = kept, "stop"
    return GenResult(text, finish, prompt_tokens, len(ids))
