"""The ``deepseek-resilient`` command: ask through the default chain, or check it.

    deepseek-resilient chat "Why is the sky blue?"      # answer on stdout, route on stderr
    deepseek-resilient chat --stream "Write a haiku"    # tokens as they come
    deepseek-resilient chat --stats "Hi"                # then the client's stats table
    deepseek-resilient doctor                            # a table: is each provider usable?
    deepseek-resilient doctor --requests 5               # + 5 one-token calls: latency p50/p99

The chain is DeepSeek when ``DEEPSEEK_API_KEY`` is set, then the embedded local model (when
installed): with no key and no network the local model answers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import anyio

from ._batch.command import add_batch_parser, run_batch
from ._client import AsyncClient
from ._config_file import chain_for
from ._core.config import Retry
from ._core.errors import DeepSeekResilientError, ProviderError
from ._core.redact import redact
from ._models import Route
from ._providers.base import Provider
from ._providers.http.openai_compat import OpenAICompatible
from ._queue.command import add_worker_parser, run_worker

__all__ = ["main"]


def _note(message: str, *, err: TextIO | None = None) -> None:
    print(redact(message), file=err or sys.stderr, flush=True)


def _skipped_note() -> str | None:
    if not os.environ.get("DEEPSEEK_API_KEY"):
        return "deepseek skipped: DEEPSEEK_API_KEY is not set"
    return None


def _route_line(route: Route | None) -> str:
    parts = [route.summary() if route else "no route"]
    skipped = _skipped_note()
    if skipped:
        parts.append(skipped)
    return "route: " + "; ".join(parts)


async def _warm_if_first(providers: Sequence[Provider]) -> None:
    """When a local model is the first choice, load it now and say so (it takes a moment)."""
    first = providers[0]
    if first.local:
        _note(f"loading local model {first.model} ...")
        started = time.monotonic()
        await first.warm()
        _note(f"loaded in {time.monotonic() - started:.1f} s")


async def _chat(args: argparse.Namespace) -> int:
    providers = chain_for(args.config)
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    params: dict[str, Any] = {"max_tokens": args.max_tokens, "timeout": args.timeout}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    async with AsyncClient(providers, timeout=args.timeout) as client:
        await _warm_if_first(providers)
        if args.stream:
            stream = await client.chat.completions.create(messages=messages, stream=True, **params)
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices[:1]:
                        print(choice.delta.content or "", end="", flush=True)
            print()
            _note(_route_line(stream.route))
        else:
            resp = await client.chat.completions.create(messages=messages, **params)
            print(resp.choices[0].message.content or "")
            _note(_route_line(resp.route))
        if args.stats:
            _note(client.stats().table())
    return 0


async def _check(provider: Provider) -> tuple[str, str]:
    """(status, detail) of one provider: reachable and key valid, or model loadable."""
    started = time.monotonic()
    try:
        if isinstance(provider, OpenAICompatible):
            models = await provider.models()
            detail = f"reachable, key accepted, {len(models)} models"
        else:
            await provider.warm()
            detail = f"model loads ({provider.model})"
    except ProviderError as exc:
        return "FAIL", redact(f"{type(exc).__name__}: {exc.message}")
    return "ok", f"{detail} in {time.monotonic() - started:.2f} s"


async def _doctor(args: argparse.Namespace) -> int:
    rows: list[tuple[str, str, str, str]] = []
    if not os.environ.get("DEEPSEEK_API_KEY"):
        rows.append(("deepseek", "-", "skipped", "DEEPSEEK_API_KEY is not set"))
    try:
        providers = chain_for(args.config)
    except DeepSeekResilientError as exc:
        providers = []
        rows.append(("(chain)", "-", "FAIL", redact(str(exc))))
    healthy = bool(providers)
    if providers:
        async with AsyncClient(providers) as client:
            for provider in providers:
                with anyio.move_on_after(args.timeout) as scope:
                    status, detail = await _check(provider)
                if scope.cancelled_caught:
                    status, detail = "FAIL", f"no answer within {args.timeout:g} s"
                if args.requests and status == "ok":
                    detail += "; " + await _latency(provider, args.requests, args.timeout)
                healthy = healthy and status == "ok"
                rows.append((provider.name, _breaker_cell(client, provider.name), status, detail))
    widths = [max(len(r[i]) for r in [*rows, _HEADER]) for i in range(4)]
    for row in [_HEADER, *rows]:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        print(redact(line))
    return 0 if healthy else 1


_HEADER = ("provider", "breaker", "status", "detail")


def _breaker_cell(client: AsyncClient, name: str) -> str:
    """``closed``, or e.g. ``open 12s`` / ``closed 40% fail`` from the breaker's health."""
    health = client.health().get(name)
    if health is None:
        return "-"
    cell: str = health.state
    if health.retry_in is not None:
        cell += f" {health.retry_in:.0f}s"
    if health.calls_in_window:
        cell += f" {health.failure_rate:.0%} fail"
    return cell


async def _latency(provider: Provider, n: int, timeout: float) -> str:
    """Send ``n`` one-token requests to ``provider`` alone; its latency and errors."""
    async with AsyncClient(
        [provider], timeout=timeout, retry=Retry(attempts=1), breaker=None
    ) as probe:
        for i in range(n):
            messages = [{"role": "user", "content": f"Reply with one word. ({i})"}]
            with contextlib.suppress(DeepSeekResilientError):  # counted in the stats
                await probe.chat.completions.create(messages=messages, max_tokens=1)
        stats = probe.stats().providers[provider.name]
    p50 = "-" if stats.latency_p50 is None else f"{stats.latency_p50 * 1000:.0f}"
    p99 = "-" if stats.latency_p99 is None else f"{stats.latency_p99 * 1000:.0f}"
    return f"{n} calls: p50 {p50} ms, p99 {p99} ms, errors {stats.error_rate:.0%}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepseek-resilient",
        description="Ask DeepSeek, failing over to the embedded local model when it can't answer.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="answer a prompt through the default chain")
    chat.add_argument("prompt")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--stream", action="store_true", help="print tokens as they come")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--timeout", type=float, default=120.0, help="total deadline, seconds")
    chat.add_argument("--stats", action="store_true", help="print the stats table after")
    chat.add_argument("--config", help="TOML config (default: $DEEPSEEK_RESILIENT_CONFIG)")
    doctor = sub.add_parser("doctor", help="check each provider of the default chain")
    doctor.add_argument("--timeout", type=float, default=60.0, help="per provider, seconds")
    doctor.add_argument(
        "--requests", type=int, default=0, help="one-token calls per provider, for latency"
    )
    doctor.add_argument("--config", help="TOML config (default: $DEEPSEEK_RESILIENT_CONFIG)")
    add_batch_parser(sub)
    add_worker_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"chat": _chat, "doctor": _doctor, "batch": run_batch, "worker": run_worker}
    command = commands[args.command]
    try:
        return anyio.run(command, args)
    except DeepSeekResilientError as exc:
        _note(f"error: {type(exc).__name__}: {exc}")
        if exc.route is not None:
            _note(_route_line(exc.route))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
