"""The durable job queue: SQLite file by default, Redis Streams at scale."""

from .base import JobQueueError, JobResult
from .queue import JobQueue

__all__ = ["JobQueue", "JobQueueError", "JobResult"]
