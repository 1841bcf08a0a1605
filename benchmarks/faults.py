"""Time to outcome for the provider faults of issues 11 and 22, at default settings, through
the public API against the real ``FaultServer`` (real time: this measures, it asserts nothing).

    python -m benchmarks.faults

1. silent primary (accepts, never sends a byte) in front of a healthy fallback;
2. slow first token (keep-alives for 20 s first);
4. stall after commit (20 words, then only keep-alives for 30 s), DeepSeek continuing;
7. primary down 60 s then healthy, 20 requests one every 4 s (on a fake clock);
22. after commit, a primary that cuts (or stalls) at the same point every time in front of a
    healthy fallback; a fallback that rejects prefill; one that declares prefix completion and
    ignores it.
"""

from __future__ import annotations

import time

import anyio

from deepseek_resilient import AsyncClient, DeepSeek, IncompleteStreamError, OpenAICompatible
from deepseek_resilient.testing import (
    CutStream,
    FakeClock,
    FakeProvider,
    FaultServer,
    IgnorePrefix,
    Ok,
    Outage,
    RejectPrefill,
    Silent,
    SlowFirstToken,
    StallAfter,
    Step,
)
from deepseek_resilient.testing._steps import prefix_of

WORDS = " ".join(f"w{i}" for i in range(60))
USER = [{"role": "user", "content": "Hi"}]
BUDGET = 60.0


def _http(server: FaultServer, name: str) -> OpenAICompatible:
    return OpenAICompatible(name=name, base_url=server.base_url, model="m", api_key="sk-bench")


async def _time(primary_step: object, *, stream: bool) -> tuple[float, str]:
    with FaultServer(default=primary_step, lifetime=120) as bad, FaultServer() as good:  # type: ignore[arg-type]
        good.default = Ok("fallback answer")
        async with AsyncClient([_http(bad, "primary"), _http(good, "fallback")]) as client:
            started = time.monotonic()
            resp = await client.chat.completions.create(
                messages=USER, stream=stream, timeout=BUDGET
            )
            if stream:
                resp = await resp.until_done()  # type: ignore[union-attr]
            took = time.monotonic() - started
    assert resp.route is not None  # type: ignore[union-attr]
    return took, resp.route.summary()  # type: ignore[union-attr]


async def _stall_after_commit() -> tuple[float, str, bool]:
    with FaultServer(lifetime=120) as server:
        server.script(StallAfter(after=20, seconds=30, interval=1.0, content=WORDS))
        server.rule = _continues  # DeepSeek goes on from the (held-back) prefix
        deepseek = DeepSeek(api_key="sk-bench", base_url=server.base_url)
        async with AsyncClient([deepseek, FakeProvider("fallback")]) as client:
            started = time.monotonic()
            stream = await client.chat.completions.create(
                messages=USER, stream=True, timeout=BUDGET
            )
            answer = await stream.until_done()
            took = time.monotonic() - started
    return took, stream.route.summary(), answer.choices[0].message.content == WORDS


def _continues(index: int, body: dict[str, object] | None) -> Step | None:
    done = prefix_of(body)
    return None if done is None else Ok(WORDS[len(done) :])


async def _same_point(primary: Step, fallback: str) -> tuple[float, str, str]:
    """Issue 22: a primary that breaks ``primary``'s way at the same point every time, and a
    fallback that is ``healthy``, ``rejects prefill`` or ``ignores prefix``."""
    with FaultServer(default=primary, lifetime=120) as bad, FaultServer() as good:
        good.default = Ok(WORDS)
        if fallback == "rejects prefill":
            good.rule = RejectPrefill()
        elif fallback == "ignores prefix":
            good.rule = IgnorePrefix(Ok(WORDS))
        prefix = fallback != "healthy"
        providers = [_http(bad, "primary"), _http(good, "fallback")]
        providers[1].prefix_completion = prefix
        async with AsyncClient(providers) as client:
            started = time.monotonic()
            stream = await client.chat.completions.create(
                messages=USER, stream=True, timeout=BUDGET
            )
            try:
                whole = await stream.until_done()
                outcome = "complete" if whole.choices[0].message.content == WORDS else "WRONG"
            except IncompleteStreamError:
                outcome = "IncompleteStreamError"
            took = time.monotonic() - started
    return took, outcome, stream.route.summary()


async def _outage() -> tuple[float, int]:
    clock = FakeClock()
    start = clock.now()
    with FaultServer(default=Ok("primary")) as server:
        outage = Outage(clock, start, start + 60)
        server.rule = outage
        async with AsyncClient(
            [_http(server, "primary"), FakeProvider("fallback")], clock=clock
        ) as c:
            back = None
            for _ in range(20):
                resp = await c.chat.completions.create(messages=USER)
                at = clock.now() - start
                if back is None and at >= 60 and resp.route and resp.route.provider == "primary":
                    back = at - 60
                clock.advance(4)
    return (back if back is not None else float("nan")), outage.served


async def main() -> None:
    took, summary = await _time(Silent(seconds=100), stream=False)
    print(f"1. silent primary (non-streamed): {took:.1f} s  [{summary}]")
    took, summary = await _time(Silent(seconds=100), stream=True)
    print(f"1. silent primary (streamed):     {took:.1f} s  [{summary}]")
    took, summary = await _time(SlowFirstToken(seconds=20, interval=1.0), stream=True)
    print(f"2. slow first token (streamed):   {took:.1f} s  [{summary}]")
    took, summary, whole = await _stall_after_commit()
    print(f"4. stall after commit:            {took:.1f} s  complete={whole}  [{summary}]")
    back, probes = await _outage()
    print(f"7. outage 60 s: back on the primary {back:.1f} s after it recovered; "
          f"{probes} requests reached the dead primary")  # fmt: skip
    cut = CutStream(after=20, content=WORDS)
    stall = StallAfter(after=20, seconds=60, interval=1.0, content=WORDS)
    for label, step, fallback in [
        ("cut at the same point every time", cut, "healthy"),
        ("stall at the same point every time", stall, "healthy"),
        ("cut; the fallback rejects prefill", cut, "rejects prefill"),
        ("cut; the fallback ignores the prefix", cut, "ignores prefix"),
    ]:
        took, outcome, summary = await _same_point(step, fallback)
        print(f"22. {label + ':':38s} {took:5.2f} s  {outcome}  [{summary}]")


if __name__ == "__main__":
    anyio.run(main)
