"""Transformers: one ``generate`` call for a batch of compatible jobs (blocking).

Prompts are left-padded; each row stops at its own ``max_tokens`` and is cut at its own EOS and
stop strings afterwards, so every caller gets the answer it would get alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .hf_job import GenJob, GenResult, finish_row, generate_kwargs
from .hf_load import HFModel

__all__ = ["generate_batch"]


def generate_batch(
    model: HFModel, jobs: Sequence[GenJob], should_stop: Callable[[], bool]
) -> list[GenResult]:
    """Generate ``jobs`` together (they share sampling settings); stop all rows early when
    ``should_stop()`` turns true. The caller holds the model's inference lock."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    limits = [j.max_tokens for j in jobs]
    enc = model.tok(
        [j.prompt for j in jobs],
        return_tensors="pt",
        padding=True,
        add_special_tokens=False,
    ).to(model.device)
    width = int(enc["input_ids"].shape[1])

    class _RowLimits(StoppingCriteria):
        """Marks a row done at its own max_tokens; all rows when nobody waits."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            produced = int(input_ids.shape[1]) - width
            done = torch.tensor([produced >= n for n in limits], device=input_ids.device)
            if should_stop():
                done[:] = True
            return done

    first = jobs[0]
    if first.do_sample and first.seed is not None:
        torch.manual_seed(first.seed)
    with torch.inference_mode():
        out = model.lm.generate(
            **enc,
            max_new_tokens=max(limits),
            stopping_criteria=StoppingCriteriaList([_RowLimits()]),
            **generate_kwargs(model, first),
        )
    prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
    return [
        finish_row(
            model, [int(t) for t in out[row, width:].tolist()], job, int(prompt_lengths[row])
        )
        for row, job in enumerate(jobs)
    ]
