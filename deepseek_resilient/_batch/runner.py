"""``batch()``: run an OpenAI Batch API JSONL file through the resilient client at priority
"low", at most ``concurrency`` requests in flight, writing each result as it comes (see
``journal`` for resume and ``jsonl`` for the formats)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import anyio

from .._client.async_client import AsyncClient
from .._core.errors import (
    AllProvidersFailed,
    ConfigurationError,
    DeepSeekResilientError,
    InvalidRequestError,
    RateLimitedLocally,
)
from .._models import ChatCompletion
from .journal import Journal
from .jsonl import BatchLine, error_record, read_lines, success_record, validate_file
from .progress import BatchProgress, BatchSummary, Tally
from .window import Window

__all__ = ["batch"]

#: How long a request refused by our own limiter waits before it is sent again.
_REQUEUE_DELAY = 0.05


async def batch(
    requests: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    client: AsyncClient | None = None,
    config: str | os.PathLike[str] | None = None,
    resume: bool = False,
    concurrency: int = 64,
    on_progress: Callable[[BatchProgress], object] | None = None,
    progress_interval: float = 0.5,
) -> BatchSummary:
    """Send every request of ``requests`` (OpenAI Batch API JSONL) and write the results to
    ``output`` in OpenAI's batch output format, one line per ``custom_id``.
    ``concurrency`` caps the requests in flight; below it, the run keeps only as many as
    the observed rate and answer time need (see ``window``).

    The client: ``client``, else one built from ``config`` (a TOML file, default
    ``$DEEPSEEK_RESILIENT_CONFIG``), else the default chain. Requests run at priority
    "low" under the client's rate limits (so interactive calls on the same client go first);
    its cache and merging apply. ``resume=True`` continues a killed run: lines already in
    ``output`` are not sent again. A line whose whole chain failed is written with its error
    type. ``on_progress`` gets a ``BatchProgress`` every ``progress_interval`` seconds and at
    the end. Returns the ``BatchSummary``.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if client is not None and config is not None:
        raise ConfigurationError("pass client= or config=, not both")
    journal = Journal(output, resume=resume)
    try:
        tally = Tally()
        tally.total, tally.skipped = await anyio.to_thread.run_sync(
            validate_file, requests, journal.done
        )
        journal.open()
        run = functools.partial(
            _run,
            requests=requests,
            journal=journal,
            tally=tally,
            concurrency=concurrency,
            on_progress=on_progress,
            interval=progress_interval,
        )
        if client is not None:
            await run(client)
        else:
            async with _client_from(config) as owned:
                await run(owned)
    finally:
        journal.close()
    summary = tally.summary()
    if on_progress is not None:
        on_progress(summary)
    return summary


def _client_from(config: str | os.PathLike[str] | None) -> AsyncClient:
    from .._config_file import CONFIG_ENV

    if config is None and not os.environ.get(CONFIG_ENV):
        return AsyncClient()
    return AsyncClient.from_config(config)


async def _run(
    client: AsyncClient,
    *,
    requests: str | os.PathLike[str],
    journal: Journal,
    tally: Tally,
    concurrency: int,
    on_progress: Callable[[BatchProgress], object] | None,
    interval: float,
) -> None:
    window = Window(concurrency)
    low = client.with_options(priority="low")

    async def one(line: BatchLine) -> None:
        service = None
        try:
            record, service = await _answer(low, line, tally)
            journal.append(record)
        finally:
            tally.in_flight -= 1
            window.leave(service)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(journal.keep_synced)
        if on_progress is not None:
            tasks.start_soon(_report, tally, on_progress, interval)
        async with anyio.create_task_group() as sends:
            for line in read_lines(requests):
                if line.custom_id in journal.done:
                    continue
                await window.enter()
                tally.in_flight += 1
                sends.start_soon(one, line)
        tasks.cancel_scope.cancel()


async def _answer(
    client: AsyncClient, line: BatchLine, tally: Tally
) -> tuple[dict[str, Any], float | None]:
    """One line's result record, and its time upstream (None when it failed). Refusals by
    our own limiter are waited out, not failures."""
    if "messages" not in line.body:
        return _failed(line, InvalidRequestError("body has no messages"), tally), None
    while True:
        try:
            completion = await client.chat.completions.create(**_params(line.body))
        except AllProvidersFailed as exc:
            if exc.errors and all(isinstance(e, RateLimitedLocally) for e in exc.errors):
                await anyio.sleep(_REQUEUE_DELAY)
                continue
            return _failed(line, exc, tally), None
        except DeepSeekResilientError as exc:
            return _failed(line, exc, tally), None
        assert isinstance(completion, ChatCompletion)
        tally.done += 1
        if completion.usage is not None:
            tally.tokens += completion.usage.total_tokens
        route = completion.route
        service = sum(a.latency for a in route.attempts) if route is not None else 0.0
        return success_record(line.custom_id, completion), service


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params = dict(body)
    if params.get("stream"):
        params["stream"] = False  # a batch result is the whole answer
    return params


def _failed(line: BatchLine, exc: Exception, tally: Tally) -> dict[str, Any]:
    tally.failed += 1
    tally.errors[type(exc).__name__] += 1
    return error_record(line.custom_id, exc)


async def _report(
    tally: Tally, on_progress: Callable[[BatchProgress], object], interval: float
) -> None:
    while True:
        on_progress(tally.snapshot())
        await anyio.sleep(interval)
