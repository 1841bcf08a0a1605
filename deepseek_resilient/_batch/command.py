"""``deepseek-resilient batch [--config FILE] requests.jsonl -o results.jsonl [--resume]``"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .render import open_renderer
from .runner import batch

__all__ = ["add_batch_parser", "run_batch"]


def add_batch_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "batch", help="run an OpenAI Batch API JSONL file (resumable, rate-limited)"
    )
    parser.add_argument("requests", help="input JSONL: one {custom_id, method, url, body} a line")
    parser.add_argument("-o", "--output", required=True, help="results JSONL (appended)")
    parser.add_argument("--config", help="TOML config (default: $DEEPSEEK_RESILIENT_CONFIG)")
    parser.add_argument(
        "--resume", action="store_true", help="continue a killed run: skip done custom_ids"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, max")


async def run_batch(args: argparse.Namespace) -> int:
    """0 when every line was answered, 1 when some were written as failures."""
    with open_renderer(sys.stderr) as render:
        summary = await batch(
            args.requests,
            args.output,
            config=args.config,
            resume=args.resume,
            concurrency=args.concurrency,
            on_progress=render,
        )
    print(summary.text(), file=sys.stderr, flush=True)
    return 1 if summary.failed else 0
