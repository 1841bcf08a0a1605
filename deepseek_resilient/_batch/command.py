"""``deepseek-resilient batch [--config FILE] requests.jsonl -o results.jsonl [--resume]``"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._config_file import CONFIG_ENV, load_config
from .._core.errors import ConfigurationError
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
    parser.add_argument(
        "--concurrency", type=int, help="requests in flight, max (default 64, or [batch])"
    )


async def run_batch(args: argparse.Namespace) -> int:
    """0 when every line was answered, 1 when some were written as failures."""
    concurrency = args.concurrency or _section(args.config).get("concurrency", 64)
    with open_renderer(sys.stderr) as render:
        summary = await batch(
            args.requests,
            args.output,
            config=args.config,
            resume=args.resume,
            concurrency=concurrency,
            on_progress=render,
        )
    print(summary.text(), file=sys.stderr, flush=True)
    return 1 if summary.failed else 0


def _section(path: str | None) -> dict[str, Any]:
    """The config file's ``[batch]`` table (empty without a file)."""
    if path is None and not os.environ.get(CONFIG_ENV):
        return {}
    section = load_config(path).batch
    unknown = sorted(set(section) - {"concurrency"})
    if unknown:
        raise ConfigurationError(f"[batch] has unknown keys: {', '.join(unknown)}")
    return section
