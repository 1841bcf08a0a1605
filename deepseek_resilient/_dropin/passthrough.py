"""Requests other than chat completions (models, responses, embeddings, files, ...): sent as
they are to their own URL (the caller's endpoint) with the caller's endpoint's retries and
breaker. They never fail over: the other providers may not have the endpoint at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

import anyio

from .._core.errors import APITimeoutError, CircuitOpenError, ProviderError
from .._core.lazy import LazyModule
from .._policies.retry import retry_after_failure
from .._providers.http.body import MAX_ERROR_BYTES
from .._providers.http.errors import status_error_from, transport_error
from .wire import Failure, Reply

if TYPE_CHECKING:
    import httpx2

    from .._core.call import ProviderSlot
    from .._core.clock import Clock
else:
    httpx2 = LazyModule("httpx2")

__all__ = ["Passthrough"]

#: Response headers that describe the connection or the body's framing, not the answer.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class Passthrough:
    """Sends one request with retries (429 and 5xx, connection errors) and the breaker."""

    def __init__(self, slot: ProviderSlot, clock: Clock) -> None:
        self._slot = slot
        self._clock = clock
        self._http: httpx2.AsyncClient | None = None

    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        content: bytes,
        deadline: float,
    ) -> Reply | Failure:
        slot, clock = self._slot, self._clock
        name = slot.provider.name
        if self._http is None:  # made on the loop that uses it
            self._http = httpx2.AsyncClient(timeout=None, follow_redirects=False)
        http = self._http
        start = clock.now()
        failed: dict[int, tuple[httpx2.Response, bytes]] = {}

        async def attempt() -> httpx2.Response:
            breaker = slot.breaker
            if breaker is not None:
                await breaker.admit()
            began = clock.now()
            left = max(0.001, deadline - (clock.now() - start))
            request = http.build_request(
                method, url, headers=list(headers), content=content, timeout=left
            )
            try:
                response = await http.send(request, stream=True)
            except httpx2.HTTPError as exc:
                error = transport_error(exc, name)
                if breaker is not None:
                    breaker.record_failure(error)
                raise error from exc
            status = response.status_code
            if status == 429 or status >= 500:
                body = await response.aread()
                await response.aclose()
                error = status_error_from(response, body[:MAX_ERROR_BYTES], name)
                failed[id(error)] = (response, body)
                if breaker is not None:
                    breaker.record_failure(error)
                raise error
            if breaker is not None:
                breaker.record_success(clock.now() - began)
            return response

        def time_left() -> float:
            return deadline - (clock.now() - start)

        try:
            with anyio.fail_after(deadline):
                try:
                    response = await attempt()
                except ProviderError as first:
                    if slot.retry.attempts <= 1 or not first.retryable:
                        raise
                    response = await retry_after_failure(
                        attempt, first, slot.retry, clock, time_left
                    )
        except TimeoutError:
            return Failure("timeout", f"[{name}] no answer within {deadline:g} s")
        except ProviderError as exc:
            return _failed(exc, failed.get(id(exc)))
        return Reply(response.status_code, _headers(response.headers), stream=_body(response))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in _HOP]  # type: ignore[attr-defined]


async def _body(response: httpx2.Response) -> AsyncIterator[bytes]:
    try:
        async for piece in response.aiter_raw():
            yield piece
    finally:
        await response.aclose()


def _failed(exc: ProviderError, answer: tuple[httpx2.Response, bytes] | None) -> Reply | Failure:
    if answer is not None:  # the endpoint's own error answer, as it sent it
        response, body = answer
        headers = [(k, v) for k, v in _headers(response.headers) if k != "content-encoding"]
        return Reply(response.status_code, headers, body)
    if isinstance(exc, CircuitOpenError):
        error = {"error": {"message": str(exc), "type": "circuit_open"}}
        return Reply(503, [("content-type", "application/json")], json.dumps(error).encode())
    if isinstance(exc, APITimeoutError):
        return Failure("timeout", str(exc), errors=[exc])
    return Failure("connect", str(exc), errors=[exc])
