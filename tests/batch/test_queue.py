"""``JobQueue``: submit, result and callbacks; the dead-letter path (SQLite and Redis
Streams); the SQLite queue surviving a process restart with a worker killed mid-job; and a
Redis Streams worker killed mid-job whose job another worker takes over (XAUTOCLAIM)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from deepseek_resilient import (
    CircuitBreaker,
    JobQueue,
    JobQueueError,
    JobResult,
    Retry,
)
from deepseek_resilient.testing import (
    Echo,
    FaultServer,
    Ok,
    Stall,
    Status,
    testing_async_client,
)

from ._procs import config_for, start_worker, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/jobs.db"
    else:
        yield request.getfixturevalue("redis_url") + "?namespace=test-queue"


def ask(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], "temperature": 0.3}


async def test_submit_result_callback_and_idempotent_custom_id(
    queue_url: str, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.rule = Echo()
    seen: list[JobResult] = []
    called = anyio.Event()

    def on_result(result: JobResult) -> None:
        seen.append(result)
        called.set()

    async with JobQueue(queue_url, poll_interval=0.01) as queue:
        first = await queue.submit(ask("one"), custom_id="t-1", on_result=on_result)
        assert await queue.submit(ask("one again"), custom_id="t-1") == first
        second = await queue.submit(ask("two"))
        assert (await queue.get(second)).status == "queued"
        assert await queue.pending() == 2
        async with testing_async_client(llm_server) as client:
            assert await queue.work(client, drain=True) == 2
        done = await queue.result(first, timeout=30)
        assert done.status == "done" and done.custom_id == "t-1" and done.attempts == 1
        assert done.completion is not None
        assert done.completion.choices[0].message.content == "echo: one"
        other = await queue.result(second, timeout=30)
        assert other.completion and other.completion.choices[0].message.content == "echo: two"
        with anyio.fail_after(30):
            await called.wait()
        assert seen == [done]
        with pytest.raises(JobQueueError, match="no job"):
            await queue.get("job_missing")
    assert llm_server.calls == 2


async def test_failing_job_goes_to_the_dead_letters_after_max_attempts(
    queue_url: str, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.default = Status(503)
    async with JobQueue(queue_url, max_attempts=3, poll_interval=0.01) as queue:
        job = await queue.submit(ask("doomed"), custom_id="doomed")
        bad = await queue.submit({"messages": [{"role": "nobody", "content": 1}]})
        async with testing_async_client(
            llm_server, retry=Retry(attempts=1), breaker=CircuitBreaker(min_calls=100)
        ) as client:
            await queue.work(client, drain=True)
        result = await queue.result(job, timeout=30)
        assert result.status == "dead" and result.attempts == 3
        assert result.error is not None and result.error["code"] == "AllProvidersFailed"
        assert [r.id for r in await queue.dead_letters()] == [job]
        invalid = await queue.result(bad, timeout=30)
        assert invalid.status == "failed" and invalid.attempts == 1  # the caller's fault: once
        assert invalid.error is not None and invalid.error["code"] == "InvalidRequestError"
    assert llm_server.calls == 3


def test_sqlite_queue_survives_restart_and_a_killed_worker(
    tmp_path: Path, llm_server: FaultServer
) -> None:
    llm_server.rule = Echo()
    llm_server.on_call(1, Stall(seconds=120))  # the first job hangs: its worker is killed
    url = f"sqlite:///{tmp_path}/jobs.db"

    async def submit() -> list[str]:
        async with JobQueue(url) as queue:
            return [await queue.submit(ask(f"job {i}"), custom_id=f"c{i}") for i in range(5)]

    ids = anyio.run(submit)  # the submitting process's queue is gone after this
    config = config_for(tmp_path, llm_server)
    first = start_worker(config, url, "--concurrency", "1", "--lease", "1")
    try:
        wait_until(lambda: llm_server.calls >= 1, first)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    second = start_worker(config, url, "--drain", "--lease", "1")
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()

    async def collect() -> list[JobResult]:
        queue = JobQueue(url)  # a new process's view of the same file
        try:
            return [await queue.get(i) for i in ids]
        finally:
            await queue.aclose()

    results = anyio.run(collect)
    assert [r.status for r in results] == ["done"] * 5
    assert [r.completion.choices[0].message.content for r in results if r.completion] == [
        f"echo: job {i}" for i in range(5)
    ]
    assert results[0].attempts == 2 and all(r.attempts == 1 for r in results[1:])
    assert llm_server.calls == 6


def test_redis_worker_killed_mid_job_another_takes_over(
    tmp_path: Path, llm_server: FaultServer, redis_url: str
) -> None:
    llm_server.default = Ok("finished elsewhere")
    llm_server.on_call(1, Stall(seconds=120))
    url = redis_url + "?namespace=takeover"

    async def submit() -> str:
        async with JobQueue(url) as queue:
            return await queue.submit(ask("long job"), custom_id="long")

    job = anyio.run(submit)
    doomed = start_worker(config_for(tmp_path, llm_server), url, "--concurrency", "1")
    try:
        wait_until(lambda: llm_server.calls >= 1, doomed)
        doomed.send_signal(signal.SIGKILL)
    finally:
        doomed.wait(timeout=30)

    async def take_over() -> tuple[int, JobResult]:
        async with (
            JobQueue(url, lease=0.5, poll_interval=0.05) as queue,
            testing_async_client(llm_server) as client,
        ):
            with anyio.fail_after(60):
                ran = await queue.work(client, drain=True, worker="survivor")
            return ran, await queue.result(job, timeout=30)

    ran, result = anyio.run(take_over)
    assert ran == 1
    assert result.status == "done" and result.attempts == 2
    assert result.completion and result.completion.choices[0].message.content == (
        "finished elsewhere"
    )
    assert llm_server.calls == 2
