"""Batch jobs: OpenAI Batch API JSONL in and out, resumable (``batch()``, the CLI)."""

from .progress import BatchProgress, BatchSummary
from .runner import batch

__all__ = ["BatchProgress", "BatchSummary", "batch"]
