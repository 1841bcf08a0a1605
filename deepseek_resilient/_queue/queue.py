"""``JobQueue``: a durable queue of chat requests for services. Submit from anywhere; workers
(``deepseek-resilient worker``, or ``JobQueue.work``) run them through the resilient client;
results come back by ``await result(job_id)`` or a callback. See docs/queue.md."""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from anyio.abc import TaskGroup

from .._client.async_client import AsyncClient
from .._core.errors import ConfigurationError, DeadlineExceeded
from .base import Backend, JobQueueError, JobResult, run_job

__all__ = ["JobQueue"]

ResultCallback = Callable[[JobResult], object]


def _default_url() -> str:
    import platformdirs

    return "sqlite:///" + os.path.join(platformdirs.user_data_dir("deepseek-resilient"), "jobs.db")


def _backend(url: str, max_attempts: int, lease: float) -> Backend:
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteBackend

        return SqliteBackend(url.removeprefix("sqlite:///"), max_attempts=max_attempts, lease=lease)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_streams import RedisBackend

        return RedisBackend(url, max_attempts=max_attempts, lease=lease)
    raise ConfigurationError(f"queue URL must be sqlite:///path or redis://host:port/db: {url!r}")


class JobQueue:
    """A durable job queue.

    - ``url``: ``sqlite:///path/jobs.db`` (the default, in the user data directory: one
      file, no server) or ``redis://host:port/db[?namespace=name]`` (Redis Streams with a
      consumer group, for many hosts).
    - ``max_attempts``: runs of a job before it goes to the dead-letter set (a worker that
      died while running it counts as one).
    - ``lease``: seconds a worker may hold a job before another worker takes it over (keep
      it above the client's ``timeout``).
    - ``poll_interval``: how often ``result()``, callbacks and idle workers look again.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_attempts: int = 3,
        lease: float = 300.0,
        poll_interval: float = 0.2,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        for name, value in (("lease", lease), ("poll_interval", poll_interval)):
            if not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        self.url = url or _default_url()
        self.poll_interval = float(poll_interval)
        self._backend = _backend(self.url, max_attempts, float(lease))
        self._callbacks: dict[str, list[ResultCallback]] = {}
        self._tasks: TaskGroup | None = None
        self._wake = anyio.Event()

    def __repr__(self) -> str:
        scheme = self.url.split(":", 1)[0]
        return f"JobQueue({scheme})"

    async def submit(
        self,
        request: Mapping[str, Any],
        *,
        custom_id: str | None = None,
        on_result: ResultCallback | None = None,
    ) -> str:
        """Queue ``request`` (the keyword arguments of ``create``: ``messages``, ...) and
        return its job id. The same ``custom_id`` again returns the first job's id (the job
        runs once). ``on_result`` is called with the ``JobResult`` when it finishes (inside
        ``async with queue:``)."""
        if not isinstance(request, Mapping) or not isinstance(request.get("messages"), list):
            raise ConfigurationError("request must be a mapping with a 'messages' list")
        if custom_id is not None and (not isinstance(custom_id, str) or not custom_id):
            raise ConfigurationError("custom_id must be a non-empty string")
        if on_result is not None and self._tasks is None:
            raise ConfigurationError("on_result needs the queue open: async with JobQueue(...)")
        job_id = f"job_{uuid.uuid4().hex}"
        job_id = await self._backend.submit(job_id, custom_id or job_id, dict(request))
        if on_result is not None:
            self._callbacks.setdefault(job_id, []).append(on_result)
            self._wake.set()
        return job_id

    async def get(self, job_id: str) -> JobResult:
        """The job's state now (``status`` queued, running, done, failed or dead)."""
        found = await self._backend.get(job_id)
        if found is None:
            raise JobQueueError(f"no job {job_id!r} in this queue")
        return found

    async def result(self, job_id: str, *, timeout: float | None = None) -> JobResult:
        """Wait until the job is finished (done, failed or dead) and return its result;
        ``DeadlineExceeded`` after ``timeout`` seconds."""
        with anyio.move_on_after(timeout) as scope:
            while True:
                found = await self.get(job_id)
                if found.finished:
                    return found
                await anyio.sleep(self.poll_interval)
        assert scope.cancelled_caught
        raise DeadlineExceeded(f"job {job_id} not finished within {timeout} s")

    async def pending(self) -> int:
        """Jobs queued or running."""
        return await self._backend.pending()

    async def dead_letters(self) -> list[JobResult]:
        """Jobs that failed ``max_attempts`` times."""
        return await self._backend.dead_letters()

    async def work(
        self,
        client: AsyncClient,
        *,
        concurrency: int = 8,
        drain: bool = False,
        worker: str | None = None,
    ) -> int:
        """Run jobs through ``client``, ``concurrency`` at a time, until cancelled (or, with
        ``drain=True``, until the queue is empty). Returns how many jobs this worker ran."""
        name = worker or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        slots = anyio.Semaphore(concurrency)
        ran = 0

        async def run(job: Any) -> None:
            nonlocal ran
            try:
                outcome = await run_job(client, job)
                with anyio.CancelScope(shield=True):
                    await self._backend.finish(job, name, outcome)
                ran += 1
            finally:
                slots.release()

        async with anyio.create_task_group() as tasks:
            while True:
                await slots.acquire()
                free = 1
                while slots.value > 0:
                    await slots.acquire()
                    free += 1
                jobs = await self._backend.claim(name, free)
                for _ in range(free - len(jobs)):
                    slots.release()
                for job in jobs:
                    tasks.start_soon(run, job)
                if jobs:
                    continue
                if drain and slots.value == concurrency and await self.pending() == 0:
                    break
                await anyio.sleep(self.poll_interval)
        return ran

    async def _watch(self) -> None:
        """Call the ``on_result`` callbacks of jobs that finished."""
        while True:
            for job_id in list(self._callbacks):
                found = await self._backend.get(job_id)
                if found is not None and found.finished:
                    for callback in self._callbacks.pop(job_id, []):
                        callback(found)
            if not self._callbacks:
                self._wake = anyio.Event()
                await self._wake.wait()
            else:
                await anyio.sleep(self.poll_interval)

    async def __aenter__(self) -> JobQueue:
        self._group = anyio.create_task_group()
        self._tasks = await self._group.__aenter__()
        self._tasks.start_soon(self._watch)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        tasks, self._tasks = self._tasks, None
        if tasks is not None:
            tasks.cancel_scope.cancel()
            await self._group.__aexit__(None, None, None)
        await self.aclose()

    async def aclose(self) -> None:
        await self._backend.aclose()
