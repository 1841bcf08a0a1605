"""Progress on stderr for the CLI: a live rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from .progress import BatchProgress

__all__ = ["PlainLines", "open_renderer"]


class PlainLines:
    """One line every ``every`` seconds (and the last one): for logs and pipes."""

    def __init__(self, stream: TextIO, every: float = 5.0) -> None:
        self._stream = stream
        self._every = every
        self._last = -float("inf")

    def __call__(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if now - self._last >= self._every or progress.finished >= progress.total:
            self._last = now
            print(f"batch: {progress.line()}", file=self._stream, flush=True)

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RichBar:
    """rich's live progress bar: done, failed, in flight, requests/s, tokens, ETA."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("[green]{task.fields[ok]} ok [red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[in_flight]} in flight"),
            TextColumn("{task.fields[rate]:.1f} req/s"),
            TextColumn("{task.fields[tokens]} tok"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            refresh_per_second=4,
        )
        self._task = self._progress.add_task(
            "batch", total=None, ok=0, failed=0, in_flight=0, rate=0.0, tokens=0
        )

    def __call__(self, p: BatchProgress) -> None:
        self._progress.update(
            self._task,
            total=p.total,
            completed=p.finished,
            ok=p.done,
            failed=p.failed,
            in_flight=p.in_flight,
            rate=p.requests_per_second,
            tokens=p.tokens,
        )

    def __enter__(self) -> RichBar:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()


def open_renderer(stream: TextIO | None = None) -> PlainLines | RichBar:
    stream = stream or sys.stderr
    if stream.isatty():
        try:
            return RichBar(stream)
        except ImportError:
            pass
    return PlainLines(stream)
