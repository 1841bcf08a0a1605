"""Needs nothing beyond the base install (pip install deepseek-resilient).

Bulk work, offline: a config file, a resumable batch run and a durable job queue, against
a local fault-injecting server that stands in for DeepSeek.

    python examples/batch_and_queue.py

The same from the command line (with a real config file):

    deepseek-resilient batch --config deepseek-resilient.toml requests.jsonl -o results.jsonl
    deepseek-resilient worker --config deepseek-resilient.toml --queue sqlite:///jobs.db
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import anyio

from deepseek_resilient import AsyncClient, JobQueue, batch
from deepseek_resilient.testing import Echo, FaultServer

CONFIG = """
timeout = 30

[[providers]]
type = "openai_compatible"
name = "primary"
base_url = "{base_url}"
api_key = "${{PRIMARY_KEY}}"      # the key comes from the environment, never the file
model = "deepseek-v3"
[providers.rate_limit]
requests_per_second = 50
"""


def write_requests(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            body = {"messages": [{"role": "user", "content": f"ticket {i}"}], "temperature": 0}
            line = {"custom_id": f"t{i}", "method": "POST", "url": "/v1/chat/completions"}
            out.write(json.dumps({**line, "body": body}) + "\n")


async def main(workdir: Path, base_url: str) -> None:
    config = workdir / "deepseek-resilient.toml"
    config.write_text(CONFIG.format(base_url=base_url), encoding="utf-8")
    os.environ.setdefault("PRIMARY_KEY", "sk-example-key")

    # 1. A batch run: OpenAI Batch API JSONL in, OpenAI batch output JSONL out.
    requests, results = workdir / "requests.jsonl", workdir / "results.jsonl"
    write_requests(requests, 100)
    async with AsyncClient.from_config(config) as client:
        summary = await batch(requests, results, client=client, resume=True)
    print(summary.text())
    first = json.loads(results.read_text(encoding="utf-8").splitlines()[0])
    print("first result:", first["custom_id"], first["response"]["status_code"])

    # 2. A durable queue: submit, a worker runs it, the result comes back.
    async with (
        JobQueue(f"sqlite:///{workdir}/jobs.db", poll_interval=0.05) as queue,
        AsyncClient.from_config(config) as client,
    ):
        job = await queue.submit(
            {"messages": [{"role": "user", "content": "summarise ticket 7"}]},
            custom_id="ticket-7",
        )
        await queue.work(client, drain=True)  # normally: deepseek-resilient worker ...
        result = await queue.result(job)
        assert result.completion is not None
        print("queue:", result.status, "-", result.completion.choices[0].message.content)


if __name__ == "__main__":
    with FaultServer(rule=Echo("answer to: ")) as server, tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, Path(tmp), server.base_url)
