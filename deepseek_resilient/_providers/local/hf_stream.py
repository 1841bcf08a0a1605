"""Transformers: generate one job token by token, handing text deltas out (blocking)."""

from __future__ import annotations

import threading
from typing import Any

from ..._models import Usage
from ..messages import StopScanner
from .hf_job import GenJob, generate_kwargs
from .hf_load import HFModel
from .worker import Emit

__all__ = ["StreamEvent", "generate_stream"]

#: What the streaming job emits: ("text", delta, None) or ("end", finish_reason, usage).
StreamEvent = tuple[str, str, Usage | None]


def generate_stream(
    model: HFModel, job: GenJob, stop: threading.Event, emit: Emit[StreamEvent]
) -> None:
    """Generate ``job``, emitting ("text", delta, None) and then ("end", reason, usage).

    Stops at the next token when ``stop`` is set or ``emit`` returns False (nobody listens).
    The caller holds the model's inference lock.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList
    from transformers.generation.streamers import BaseStreamer

    tok = model.tok
    eos = set(model.eos_ids)
    scanner = StopScanner(list(job.stops))
    ids: list[int] = []
    state = {"prompt_seen": False, "eos": False, "gone": False}

    class _Emitter(BaseStreamer):
        def put(self, value: Any) -> None:
            if not state["prompt_seen"]:  # generate() first hands over the prompt
                state["prompt_seen"] = True
                return
            for t in value.reshape(-1).tolist():
                if state["eos"] or scanner.stopped:
                    return
                if int(t) in eos:
                    state["eos"] = True
                    return
                ids.append(int(t))
                new = scanner.feed(tok.decode(ids, skip_special_tokens=True))
                if new and not emit(("text", new, None)):
                    state["gone"] = True

        def end(self) -> None:
            return None

    class _Halt(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            return bool(stop.is_set() or state["gone"] or scanner.stopped)

    enc = tok([job.prompt], return_tensors="pt", add_special_tokens=False).to(model.device)
    if job.do_sample and job.seed is not None:
        torch.manual_seed(job.seed)
    with torch.inference_mode():
        model.lm.generate(
            **enc,
            max_new_tokens=job.max_tokens,
            streamer=_Emitter(),
            stopping_criteria=StoppingCriteriaList([_Halt()]),
            **generate_kwargs(model, job),
        )
    if state["gone"] or stop.is_set():
        return
    if not scanner.stopped:
        rest = scanner.feed(tok.decode(ids, skip_special_tokens=True), final=True)
        if rest:
            emit(("text", rest, None))
    if scanner.stopped or state["eos"]:
        reason = "stop"
    else:
        reason = "length" if len(ids) >= job.max_tokens else "stop"
    prompt_tokens = int(enc["input_ids"].shape[1])
    usage = Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=len(ids),
        total_tokens=prompt_tokens + len(ids),
    )
    emit(("end", reason, usage))
