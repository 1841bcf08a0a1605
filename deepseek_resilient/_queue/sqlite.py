"""The embedded queue: one SQLite file (WAL), shared by every process on the host.

A worker claims a job by leasing it (``lease_until``) inside one ``BEGIN IMMEDIATE``
transaction; a worker that dies leaves its lease to expire, and the job is claimed again.
A job that failed ``max_attempts`` times (a lost lease counts) is ``dead``: the dead-letter
set. ``custom_id`` is unique: submitting it again returns the first job's id.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio

from .base import Job, JobQueueError, JobResult, Outcome

__all__ = ["SqliteBackend"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    custom_id TEXT NOT NULL UNIQUE,
    request TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    outcome TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (status, created);
"""


class SqliteBackend:
    def __init__(self, path: str, *, max_attempts: int, lease: float) -> None:
        self.path = path
        self.max_attempts = max_attempts
        self.lease = lease
        self._limiter = anyio.CapacityLimiter(1)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._sync(lambda db: db.executescript(_SCHEMA))

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _sync(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            db = self._connect()
            try:
                return work(db)
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise JobQueueError(f"queue file {self.path}: {exc}") from exc

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._sync, work, limiter=self._limiter)

    async def submit(self, job_id: str, custom_id: str, request: dict[str, Any]) -> str:
        def insert(db: sqlite3.Connection) -> str:
            db.execute(
                "INSERT OR IGNORE INTO jobs (id, custom_id, request, created) VALUES (?,?,?,?)",
                (job_id, custom_id, json.dumps(request), time.time()),
            )
            row = db.execute("SELECT id FROM jobs WHERE custom_id = ?", (custom_id,)).fetchone()
            return str(row[0])

        return await self._run(insert)

    async def claim(self, worker: str, limit: int) -> list[Job]:
        def lease(db: sqlite3.Connection) -> list[Job]:
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            try:
                # A job whose lease ran out after its last allowed attempt is dead.
                db.execute(
                    "UPDATE jobs SET status = 'dead', outcome = ? WHERE status = 'running' "
                    "AND lease_until < ? AND attempts >= ?",
                    (_lost_lease(), now, self.max_attempts),
                )
                rows = db.execute(
                    "SELECT id, custom_id, request, attempts FROM jobs WHERE status = 'queued' "
                    "OR (status = 'running' AND lease_until < ?) ORDER BY created LIMIT ?",
                    (now, limit),
                ).fetchall()
                for row in rows:
                    db.execute(
                        "UPDATE jobs SET status = 'running', worker = ?, lease_until = ?, "
                        "attempts = attempts + 1 WHERE id = ?",
                        (worker, now + self.lease, row[0]),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return [Job(r[0], r[1], json.loads(r[2]), r[3] + 1) for r in rows]

        return await self._run(lease)

    async def finish(self, job: Job, worker: str, outcome: Outcome) -> None:
        status: str = outcome.kind
        if status == "retry":
            status = "dead" if job.attempts >= self.max_attempts else "queued"

        def store(db: sqlite3.Connection) -> None:
            # Only the lease holder settles the job: a worker whose lease expired and was
            # taken over does not overwrite the new holder's work (idempotent by job).
            db.execute(
                "UPDATE jobs SET status = ?, outcome = ?, lease_until = 0 "
                "WHERE id = ? AND status = 'running' AND worker = ?",
                (status, outcome.dumps(), job.id, worker),
            )

        await self._run(store)

    async def get(self, job_id: str) -> JobResult | None:
        def read(db: sqlite3.Connection) -> JobResult | None:
            row = db.execute(
                "SELECT id, custom_id, status, attempts, outcome FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            return None if row is None else _result(row)

        return await self._run(read)

    async def pending(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchone()
            return int(row[0])

        return await self._run(count)

    async def dead_letters(self) -> list[JobResult]:
        def read(db: sqlite3.Connection) -> list[JobResult]:
            rows = db.execute(
                "SELECT id, custom_id, status, attempts, outcome FROM jobs "
                "WHERE status = 'dead' ORDER BY created"
            ).fetchall()
            return [_result(r) for r in rows]

        return await self._run(read)

    async def aclose(self) -> None:
        return None


def _lost_lease() -> str:
    error = {"code": "WorkerLost", "message": "the worker running it stopped (lease expired)"}
    return Outcome("retry", error=error).dumps()


def _result(row: tuple[Any, ...]) -> JobResult:
    job_id, custom_id, status, attempts, outcome = row
    if status in ("queued", "running"):
        outcome = None  # a retried job's last error is not its result
    data = json.loads(outcome) if outcome else {}
    return JobResult(job_id, custom_id, status, attempts, data.get("response"), data.get("error"))
