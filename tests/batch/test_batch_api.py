"""``deepseek_resilient.batch``: OpenAI Batch API JSONL in and out, through the real test
server; failures written with their error type; resume after a torn write."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import anyio
import pytest

from deepseek_resilient import (
    AsyncClient,
    BatchProgress,
    ConfigurationError,
    InvalidRequestError,
    RateLimit,
    Retry,
    batch,
)
from deepseek_resilient.testing import (
    Echo,
    FaultServer,
    Ok,
    Status,
    server_provider,
    testing_async_client,
)
from deepseek_resilient.testing._steps import message_texts

from ._files import id_counts, numbered, request_line, results, write_requests

pytestmark = pytest.mark.anyio


async def test_every_line_answered_in_openai_output_format(
    tmp_path: Path, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.rule = Echo()
    lines = [request_line(f"id-{i}", f"q{i}", temperature=0.5) for i in range(30)]
    requests = write_requests(tmp_path / "in.jsonl", lines)
    seen: list[BatchProgress] = []
    async with testing_async_client(llm_server) as client:
        summary = await batch(
            requests, tmp_path / "out.jsonl", client=client, concurrency=8, on_progress=seen.append
        )
    out = results(tmp_path / "out.jsonl")
    assert sorted(r["custom_id"] for r in out) == sorted(f"id-{i}" for i in range(30))
    for record in out:
        assert record["id"].startswith("batch_req_") and record["error"] is None
        response = record["response"]
        assert response["status_code"] == 200 and response["request_id"]
        body = response["body"]
        assert body["object"] == "chat.completion"
        number = record["custom_id"].removeprefix("id-")
        assert body["choices"][0]["message"]["content"] == f"echo: q{number}"
    assert (summary.done, summary.failed, summary.total, summary.skipped) == (30, 0, 30, 0)
    assert seen[-1] == summary and summary.tokens > 0
    # batch requests are sent at priority low and as plain (non-streamed) requests
    assert all(not (r.body or {}).get("stream") for r in llm_server.requests)


async def test_failed_lines_carry_their_error_type(
    tmp_path: Path, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.rule = lambda index, body: (
        Status(400, message="bad prompt")
        if body and "poison" in json.dumps(body)
        else Echo()(index, body)
    )
    requests = write_requests(
        tmp_path / "in.jsonl",
        [
            request_line("good", "fine"),
            request_line("rejected", "poison"),
            {"custom_id": "invalid", "body": {"messages": "not a list"}},
            {"custom_id": "no-messages", "body": {"model": "m"}},
        ],
    )
    async with testing_async_client(llm_server, retry=Retry(attempts=1)) as client:
        summary = await batch(requests, tmp_path / "out.jsonl", client=client)
    by_id = {r["custom_id"]: r for r in results(tmp_path / "out.jsonl")}
    assert by_id["good"]["error"] is None
    rejected = by_id["rejected"]
    assert rejected["error"]["code"] in ("BadRequestError", "AllProvidersFailed")
    assert rejected["response"]["status_code"] == 400
    assert by_id["invalid"]["error"]["code"] == "InvalidRequestError"
    assert by_id["invalid"]["response"] is None
    assert by_id["no-messages"]["error"]["code"] == "InvalidRequestError"
    assert summary.failed == 3 and summary.done == 1
    assert sum(summary.errors.values()) == 3


async def test_resume_cuts_a_torn_line_and_sends_only_the_rest(
    tmp_path: Path, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.rule = Echo()
    requests = numbered(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    async with testing_async_client(llm_server) as client:
        await batch(requests, out, client=client)
        kept = out.read_bytes().splitlines(keepends=True)[:7]
        out.write_bytes(b"".join(kept) + kept[7 - 1][:25])  # a crash in mid-write
        calls = llm_server.calls
        with pytest.raises(ConfigurationError, match="exists"):
            await batch(requests, out, client=client)  # never overwrites without resume
        summary = await batch(requests, out, client=client, resume=True)
    assert llm_server.calls - calls == 13
    assert (summary.skipped, summary.done) == (7, 13)
    counts = id_counts(out)
    assert set(counts) == {f"req-{i}" for i in range(20)} and set(counts.values()) == {1}


async def test_malformed_input_names_its_line_before_any_request(
    tmp_path: Path, llm_server: FaultServer, anyio_backend: str
) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        json.dumps(request_line("a", "x")) + "\n" + json.dumps(request_line("a", "y")) + "\n"
    )
    async with testing_async_client(llm_server) as client:
        with pytest.raises(InvalidRequestError, match="line 2: custom_id 'a' repeats"):
            await batch(requests, tmp_path / "out.jsonl", client=client)
        requests.write_text('{"custom_id": "a", "body": {}}\n{not json\n')
        with pytest.raises(InvalidRequestError, match="line 2: not JSON"):
            await batch(requests, tmp_path / "out2.jsonl", client=client)
        with pytest.raises(InvalidRequestError, match="can't read"):
            await batch(tmp_path / "missing.jsonl", tmp_path / "out3.jsonl", client=client)
        with pytest.raises(ConfigurationError, match="not both"):
            await batch(requests, tmp_path / "out4.jsonl", client=client, config="x.toml")
    assert llm_server.calls == 0
    # A rejected input leaves no results file behind: the corrected run needs no --resume.
    assert not [name for name in os.listdir(tmp_path) if name.startswith("out")]


class _FirstAnswer:
    """A hook: set when the first request finishes."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def on_request_finished(self, event: object) -> None:
        self.event.set()


async def test_batch_runs_at_low_priority_so_interactive_calls_go_first(
    tmp_path: Path, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.rule = Echo()
    requests = numbered(tmp_path / "in.jsonl", 40)
    first = _FirstAnswer()
    limit = RateLimit(requests_per_second=40, burst=2)
    async with (
        # The real clock: the limiter must really hold the batch back.
        AsyncClient([server_provider(llm_server)], rate_limit=limit, hooks=[first]) as client,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(functools.partial(batch, client=client), requests, tmp_path / "out.jsonl")
        with anyio.fail_after(30):
            await first.event.wait()  # the batch's requests now queue in the limiter
            await client.chat.completions.create(
                messages=[{"role": "user", "content": "interactive"}], temperature=0.5
            )
    order = [message_texts(r.body)[-1] for r in llm_server.requests]
    # The interactive call overtook every batch request still waiting for the limiter.
    assert order.index("interactive") < 10 < len(order) == 41


async def test_window_grows_to_concurrency_when_nothing_holds_requests_back(
    tmp_path: Path, llm_server: FaultServer, anyio_backend: str
) -> None:
    llm_server.default = Ok("slow", delay=0.2)  # answers take time; no rate limit
    requests = numbered(tmp_path / "in.jsonl", 120)
    peak = 0

    def watch(progress: BatchProgress) -> None:
        nonlocal peak
        peak = max(peak, progress.in_flight)

    async with testing_async_client(llm_server) as client:
        summary = await batch(
            requests,
            tmp_path / "out.jsonl",
            client=client,
            concurrency=24,
            on_progress=watch,
            progress_interval=0.05,
        )
    assert summary.done == 120
    assert 8 < peak <= 24  # it started at 8 and grew with the answer rate, up to the cap
