"""``deepseek-resilient worker --config FILE --queue URL``: run queued jobs until stopped."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._client.async_client import AsyncClient
from .._config_file import CONFIG_ENV, load_config
from .._core.errors import ConfigurationError
from .queue import JobQueue

__all__ = ["add_worker_parser", "run_worker"]

_QUEUE_KEYS = {"url", "max_attempts", "lease", "poll_interval", "concurrency"}


def add_worker_parser(sub: Any) -> None:
    parser = sub.add_parser("worker", help="run jobs from a JobQueue (SQLite file or Redis)")
    parser.add_argument("--config", help="TOML config (default: $DEEPSEEK_RESILIENT_CONFIG)")
    parser.add_argument("--queue", help="sqlite:///path/jobs.db or redis://host:port/db")
    parser.add_argument("--concurrency", type=int, help="jobs in flight (default 8)")
    parser.add_argument("--lease", type=float, help="seconds before a silent job is taken over")
    parser.add_argument("--max-attempts", type=int, help="runs before a job is dead-lettered")
    parser.add_argument("--drain", action="store_true", help="exit when the queue is empty")


async def run_worker(args: argparse.Namespace) -> int:
    import os

    config = load_config(args.config) if args.config or os.environ.get(CONFIG_ENV) else None
    section = dict(config.queue) if config else {}
    unknown = set(section) - _QUEUE_KEYS
    if unknown:
        raise ConfigurationError(f"[queue] has unknown keys: {', '.join(sorted(unknown))}")
    options = {
        "url": args.queue or section.get("url"),
        "max_attempts": args.max_attempts or section.get("max_attempts", 3),
        "lease": args.lease or section.get("lease", 300.0),
        "poll_interval": section.get("poll_interval", 0.2),
    }
    concurrency = args.concurrency or section.get("concurrency", 8)
    queue = JobQueue(options.pop("url"), **options)
    client = (
        AsyncClient(config.providers, **config.options) if config is not None else AsyncClient()
    )
    async with client, queue:
        print(f"worker: serving {queue!r}", file=sys.stderr, flush=True)
        ran = await queue.work(client, concurrency=concurrency, drain=args.drain)
    print(f"worker: ran {ran} jobs", file=sys.stderr, flush=True)
    return 0
