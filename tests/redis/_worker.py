"""One worker process of the multi-process Redis tests: ``python _worker.py '<json>'``.

It builds an ``AsyncClient`` on ``RedisState``, warms up (one call through a throwaway client
on the same servers, model ``warm``: imports, HTTP and Redis code paths, so that the first
measured answer is not late in a fresh process on a busy machine), prints ``ready``, waits
for a line on stdin (so the test starts every worker at the same moment), runs its mode and
prints one JSON line.
The FaultServer's rule answers by the request's ``model``: ``down`` 503, ``slow`` after
0.5 s, anything else at once.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from deepseek_resilient import (
    AsyncClient,
    Cache,
    CircuitBreaker,
    DeepSeekResilientError,
    OpenAICompatible,
    RateLimit,
    RedisState,
    Retry,
)

KEY = "sk-test-worker-SECRET"


def provider(cfg: dict[str, Any], name: str, model: str, **options: Any) -> OpenAICompatible:
    return OpenAICompatible(name=name, base_url=cfg["server"], model=model, api_key=KEY, **options)


async def limit(client: AsyncClient, cfg: dict[str, Any]) -> dict[str, Any]:
    """``callers`` concurrent loops for ``duration`` s; the wall times of admitted answers."""
    began = time.time()
    end = began + cfg["duration"]
    times: list[float] = []
    refused = 0

    async def caller(i: int) -> None:
        nonlocal refused
        n = 0
        while time.time() < end:
            n += 1
            try:
                await client.chat.completions.create(
                    messages=[{"role": "user", "content": f"{cfg['tag']} {i} {n}"}],
                    temperature=0.7,
                    timeout=cfg.get("timeout", 5.0),
                )
                times.append(time.time())
            except DeepSeekResilientError:
                refused += 1

    await asyncio.gather(*(caller(i) for i in range(cfg["callers"])))
    return {"began": began, "times": times, "refused": refused}


async def calls(client: AsyncClient, cfg: dict[str, Any]) -> dict[str, Any]:
    """``n`` concurrent identical (or numbered) requests; who answered each."""

    async def one(i: int) -> dict[str, Any]:
        text = cfg["text"] if cfg.get("identical", True) else f"{cfg['text']} {i}"
        resp = await client.chat.completions.create(
            messages=[{"role": "user", "content": text}], temperature=0, timeout=10.0
        )
        route = resp.route
        assert route is not None
        return {
            "provider": route.provider,
            "cache": route.cache,
            "coalesced": route.coalesced,
            "content": resp.choices[0].message.content,
        }

    results = await asyncio.gather(*(one(i) for i in range(cfg.get("n", 1))))
    return {"results": list(results), "health": _health(client)}


async def trip(client: AsyncClient, cfg: dict[str, Any]) -> dict[str, Any]:
    """Call until the primary's breaker is open (the backup answers meanwhile)."""
    for i in range(20):
        await client.chat.completions.create(
            messages=[{"role": "user", "content": f"trip {i}"}], temperature=0.7
        )
        if client.health()["primary"].state == "open":
            break
    return {"health": _health(client)}


def _health(client: AsyncClient) -> dict[str, str]:
    return {name: h.state for name, h in client.health().items()}


MODES = {"limit": limit, "calls": calls, "trip": trip}


def build(cfg: dict[str, Any]) -> AsyncClient:
    options = {k: cfg[k] for k in ("processes", "retry_interval", "max_op_timeout") if k in cfg}
    state = RedisState(
        cfg["redis"], namespace=cfg["ns"], op_timeout=cfg.get("op_timeout", 2.0), **options
    )
    retry = Retry(attempts=1)
    breaker = CircuitBreaker(window=4, min_calls=2, open_for=60.0, max_open_for=60.0)
    if cfg["mode"] == "limit":
        rate = RateLimit(requests_per_second=cfg["rps"])
        return AsyncClient(
            [provider(cfg, "primary", "ok")],
            rate_limit=rate,
            retry=retry,
            state=state,
            breaker=None,
        )
    if cfg["mode"] == "trip" or cfg.get("failover"):
        providers = [provider(cfg, "primary", "down"), provider(cfg, "backup", "ok")]
        return AsyncClient(providers, retry=retry, breaker=breaker, state=state)
    cache = Cache(ttl=60.0) if cfg.get("cache") else None
    return AsyncClient(
        [provider(cfg, "primary", cfg.get("model", "ok"))], retry=retry, cache=cache, state=state
    )


async def warm_up(cfg: dict[str, Any]) -> None:
    """One call on another namespace, not counted by the tests (its model is ``warm``)."""
    state = RedisState(cfg["redis"], namespace=cfg["ns"] + "-warm", op_timeout=2.0)
    client = AsyncClient([provider(cfg, "warm", "warm")], state=state, retry=Retry(attempts=1))
    async with client:
        await client.chat.completions.create(
            messages=[{"role": "user", "content": "warm up"}], temperature=0.7, timeout=30.0
        )


async def main() -> None:
    cfg = json.loads(sys.argv[1])
    await warm_up(cfg)
    client = build(cfg)
    async with client:
        link = getattr(client._store, "link", None)
        if link is not None:  # connect now: the first measured admission is not a cold one
            await link.run("warm up", link.command("PING"))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        result = await MODES[cfg["mode"]](client, cfg)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
