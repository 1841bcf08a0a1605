"""The queue at scale: a Redis stream read by a consumer group.

Delivery is at least once: a job's stream entry is acknowledged (XACK) only after its result
is stored, so a worker that dies mid-job leaves the entry pending, and after ``lease``
seconds idle another worker claims it (XAUTOCLAIM). Results are idempotent by job: a job
already finished is acknowledged without running again, and the first stored result wins.
``custom_id`` maps to one job id. A job that failed ``max_attempts`` times (a lost worker
counts) goes to the dead-letter stream ``<namespace>:dead``. Keys share one hash tag, so
they live on one Redis Cluster slot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from .base import Job, JobQueueError, JobResult, Outcome

__all__ = ["RedisBackend"]

T = TypeVar("T")
_GROUP = "workers"
_FINAL = ("done", "failed", "dead")

_SUBMIT = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'custom_id', ARGV[2], 'request', ARGV[3], 'status', 'queued',
           'attempts', 0)
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
redis.call('INCR', KEYS[4])
return ARGV[1]
"""
# KEYS: job hash, stream, dead stream, open-jobs counter.
# ARGV: status, outcome, stream entry, job id, custom_id.
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'done' or status == 'failed' or status == 'dead' then
  redis.call('XACK', KEYS[2], 'workers', ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'outcome', ARGV[2])
if ARGV[1] == 'queued' then
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[4])
else
  redis.call('DECR', KEYS[4])
end
if ARGV[1] == 'dead' then
  redis.call('XADD', KEYS[3], '*', 'id', ARGV[4], 'custom_id', ARGV[5], 'error', ARGV[2])
end
redis.call('XACK', KEYS[2], 'workers', ARGV[3])
return 1
"""


def split_url(url: str) -> tuple[str, str]:
    """(the Redis URL for redis-py, the namespace from ``?namespace=``)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    namespace = query.pop("namespace", "deepseek_resilient:queue")
    return urlunsplit(parts._replace(query=urlencode(query))), namespace


class RedisBackend:
    def __init__(self, url: str, *, max_attempts: int, lease: float, block: float = 1.0) -> None:
        try:
            import redis
        except ImportError:
            raise JobQueueError(
                "a Redis queue needs redis-py: pip install 'deepseek-resilient[redis]'"
            ) from None
        redis_url, namespace = split_url(url)
        # redis-py's blocking client in worker threads: the same code under asyncio and trio.
        self._redis: Any = redis.Redis.from_url(redis_url)
        tag = "{" + namespace + "}"
        self.stream, self.dead = f"{tag}:jobs", f"{tag}:dead"
        self._job, self._cid = f"{tag}:job:", f"{tag}:cid:"
        self._open = f"{tag}:open"  # jobs submitted and not finished
        self.max_attempts = max_attempts
        self.lease = lease
        self._block_ms = int(block * 1000)
        self._cursor = "0-0"
        self._group_ready = False

    async def _call(self, work: Callable[[], T]) -> T:
        from redis.exceptions import RedisError

        try:
            return await anyio.to_thread.run_sync(work)
        except RedisError as exc:
            raise JobQueueError(f"Redis queue: {type(exc).__name__}: {exc}") from exc

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        from redis.exceptions import ResponseError

        try:
            self._redis.xgroup_create(self.stream, _GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def submit(self, job_id: str, custom_id: str, request: dict[str, Any]) -> str:
        keys = [self._cid + custom_id, self._job + job_id, self.stream, self._open]
        args = [job_id, custom_id, json.dumps(request)]
        found = await self._call(lambda: self._redis.eval(_SUBMIT, 4, *keys, *args))
        return found.decode() if isinstance(found, bytes) else str(found)

    async def claim(self, worker: str, limit: int) -> list[Job]:
        return await self._call(lambda: self._claim(worker, limit))

    def _claim(self, worker: str, limit: int) -> list[Job]:
        self._ensure_group()
        lease_ms = int(self.lease * 1000)
        reply = self._redis.xautoclaim(
            self.stream, _GROUP, worker, lease_ms, start_id=self._cursor, count=limit
        )
        cursor, entries = reply[0], [e for e in reply[1] if e and e[1]]  # Redis 6.2 and 7
        self._cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if len(entries) < limit:
            read = self._redis.xreadgroup(
                _GROUP,
                worker,
                {self.stream: ">"},
                count=limit - len(entries),
                block=self._block_ms if not entries else None,
            )
            for _stream, fresh in read or []:
                entries.extend(fresh)
        jobs = []
        for entry_id, fields in entries:
            job = self._start(entry_id.decode(), fields[b"id"].decode())
            if job is not None:
                jobs.append(job)
        return jobs

    def _start(self, entry: str, job_id: str) -> Job | None:
        """The job of a delivered entry, counted as an attempt; None when it needs no run."""
        key = self._job + job_id
        status, custom_id, request = self._redis.hmget(key, "status", "custom_id", "request")
        if status is None or status.decode() in _FINAL:
            self._redis.xack(self.stream, _GROUP, entry)
            return None
        attempts = int(self._redis.hincrby(key, "attempts", 1))
        job = Job(job_id, custom_id.decode(), json.loads(request), attempts, token=entry)
        if attempts > self.max_attempts:  # its earlier workers died: dead-letter it
            error = {"code": "WorkerLost", "message": "the workers running it stopped"}
            self._settle(job, "dead", Outcome("retry", error=error))
            return None
        self._redis.hset(key, "status", "running")
        return job

    async def finish(self, job: Job, worker: str, outcome: Outcome) -> None:
        status: str = outcome.kind
        if status == "retry":
            status = "dead" if job.attempts >= self.max_attempts else "queued"
        await self._call(lambda: self._settle(job, status, outcome))

    def _settle(self, job: Job, status: str, outcome: Outcome) -> None:
        keys = [self._job + job.id, self.stream, self.dead, self._open]
        args = [status, outcome.dumps(), job.token, job.id, job.custom_id]
        self._redis.eval(_FINISH, 4, *keys, *args)

    async def get(self, job_id: str) -> JobResult | None:
        data = await self._call(lambda: self._redis.hgetall(self._job + job_id))
        if not data:
            return None
        fields = {k.decode(): v.decode() for k, v in data.items()}
        status = fields["status"]
        outcome = json.loads(fields["outcome"]) if status in _FINAL else {}
        return JobResult(
            job_id,
            fields["custom_id"],
            status,
            int(fields.get("attempts", 0)),
            outcome.get("response"),
            outcome.get("error"),
        )

    async def pending(self) -> int:
        found = await self._call(lambda: self._redis.get(self._open))
        return max(0, int(found or 0))

    async def dead_letters(self) -> list[JobResult]:
        entries = await self._call(lambda: self._redis.xrange(self.dead))
        results = [await self.get(fields[b"id"].decode()) for _id, fields in entries]
        return [r for r in results if r is not None]

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._redis.close)
