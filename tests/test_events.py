"""The events seam: hooks= receive our frozen events; a raising hook breaks nothing; the
built-in logging hook; the breaker_listeners deprecation; no events built without hooks."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
import pickle
from typing import Any

import pybreaker
import pytest
from _support import FAST_RETRY, SECRET, USER, http_provider

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    Cache,
    CircuitBreaker,
    Client,
    ConfigurationError,
    IncompleteStreamError,
    RateLimit,
    Retry,
    Route,
    events,
)
from deepseek_resilient._core.hooks import Hooks, LoggingHook
from deepseek_resilient.testing import CutStream, FakeClock, FakeProvider, FaultServer, Ok, Status

pytestmark = pytest.mark.anyio
PROMPT = "tell me about the zebra-walrus-9431"


class Recorder:
    """A hook that keeps every event it is given (implements every method)."""

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return self.events.append
        raise AttributeError(name)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def test_every_event_is_frozen_and_names_its_hook_method() -> None:
    assert len(events.EVENT_TYPES) == len({t.hook_method for t in events.EVENT_TYPES})
    for kind in events.EVENT_TYPES:
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert kind.hook_method.startswith("on_") and kind.__name__ in events.__all__


def _sample(kind: type[Any], bump: int = 0) -> Any:
    """An instance of ``kind`` with a value of the right type in every field."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        t = str(f.type)
        if t.startswith("Literal"):
            values[f.name] = t.replace('"', "'").split("'")[1]
        elif t == "BreakerStateName":
            values[f.name] = "open"
        elif t.startswith(("int", "float")):
            values[f.name] = 7 + bump
        elif t.startswith("bool"):
            values[f.name] = True
        elif t.startswith("TokenUsage"):
            values[f.name] = events.TokenUsage(1, 2, 3)
        elif t == "Route":
            values[f.name] = Route()
        else:
            values[f.name] = f"v{bump}"
    return kind(**values)


def test_events_compare_hash_and_print_as_dataclasses() -> None:
    # Event holds repr/==/hash for every event class (declared repr=False, eq=False): the
    # behaviour stays a frozen dataclass's, field by field.
    for kind in events.EVENT_TYPES:
        a, same, other = _sample(kind), _sample(kind), _sample(kind, bump=1)
        names = [f.name for f in dataclasses.fields(kind)]
        values = tuple(getattr(a, n) for n in names)
        assert a == same and a != other and a != values
        assert (
            repr(a)
            == f"{kind.__qualname__}(" + ", ".join(f"{n}={getattr(a, n)!r}" for n in names) + ")"
        )
        assert (
            dataclasses.replace(a) == a
            and dataclasses.replace(other, **{n: getattr(a, n) for n in names}) == a
        )
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(a, names[0], getattr(other, names[0]))
        assert not hasattr(a, "__dict__")
        if kind is not events.RequestFinished:  # its Route is a mutable model: unhashable
            assert hash(a) == hash(same) == hash(values)
        else:
            with pytest.raises(TypeError):
                hash(a)
    assert events.Coalesced(1) != events.RateLimitRefused(1, "p")


def test_each_written_out_init_is_the_one_dataclass_would_generate() -> None:
    # The event classes write their __init__ out (import time): its parameters are the
    # fields, in order, with their types; positional and keyword calls set every field.
    for kind in events.EVENT_TYPES:
        fields = dataclasses.fields(kind)
        params = list(inspect.signature(kind.__init__).parameters.values())[1:]
        assert [(p.name, p.annotation, p.kind, p.default) for p in params] == [
            (f.name, f.type, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)
            for f in fields
        ], kind
        a = _sample(kind)
        values = [getattr(a, f.name) for f in fields]
        assert kind(*values) == a == pickle.loads(pickle.dumps(a)) == copy.deepcopy(a)
        marks = [object() for _ in fields]
        made = kind(*marks)
        assert [getattr(made, f.name) for f in fields] == marks  # each lands in its own field
        with pytest.raises(TypeError):
            kind(*values, None)
        with pytest.raises(TypeError):
            kind(*values[:-1])


def test_token_usage_behaves_as_the_frozen_dataclass_it_replaces() -> None:
    # TokenUsage writes its __init__ out and shares Frozen's methods (import time): compared
    # with the @dataclass(frozen=True, slots=True) it was, field by field.
    twin = dataclasses.make_dataclass(
        "TokenUsage",
        [("input", int, 0), ("output", int, 0), ("cache_hit", int, 0)],
        frozen=True,
        slots=True,
    )
    ours = inspect.signature(events.TokenUsage).parameters.values()
    theirs = inspect.signature(twin).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [
        (p.name, p.kind, p.default) for p in theirs
    ]
    assert dataclasses.is_dataclass(events.TokenUsage)
    assert events.TokenUsage.__dataclass_params__.frozen  # type: ignore[attr-defined]
    for args, kwargs in [((), {}), ((1,), {"cache_hit": 3}), ((1, 2, 3), {})]:
        a, t = events.TokenUsage(*args, **kwargs), twin(*args, **kwargs)
        assert repr(a) == repr(t) and hash(a) == hash(t)
        assert a == events.TokenUsage(*args, **kwargs) == pickle.loads(pickle.dumps(a))
        assert a == copy.deepcopy(a) == dataclasses.replace(a) and a != t
        assert dataclasses.astuple(a) == dataclasses.astuple(t)
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.input = 9  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del a.output  # type: ignore[misc]
    assert events.TokenUsage(1, 2, 3) != events.TokenUsage(1, 2, 4)
    with pytest.raises(TypeError):
        events.TokenUsage(1, 2, 3, 4)  # type: ignore[call-arg]


async def test_retries_then_answer(llm_server: FaultServer) -> None:
    llm_server.script(Status(503), Status(503, retry_after=0.5), Ok("fine"))
    rec = Recorder()
    async with AsyncClient(
        [http_provider(llm_server.base_url)], retry=FAST_RETRY, clock=FakeClock(), hooks=[rec]
    ) as client:
        resp = await client.chat.completions.create(messages=USER, temperature=0.5)
    assert resp.choices[0].message.content == "fine"
    kinds = [type(e).__name__ for e in rec.events]
    assert kinds == [
        "RequestStarted",
        "AttemptStarted", "AttemptFinished", "RetryScheduled",
        "AttemptStarted", "AttemptFinished", "RetryScheduled",
        "AttemptStarted", "AttemptFinished",
        "RequestFinished",
    ]  # fmt: skip
    started = rec.of(events.RequestStarted)[0]
    assert started.model == "m" and not started.stream
    attempts = rec.of(events.AttemptFinished)
    assert [a.outcome for a in attempts] == ["error", "error", "ok"]
    assert attempts[0].error_type == "ServiceUnavailableError" and attempts[0].status_code == 503
    assert attempts[0].server_address == "127.0.0.1" and attempts[0].model == "m"
    assert [a.attempt for a in rec.of(events.AttemptStarted)] == [1, 2, 3]
    retries = rec.of(events.RetryScheduled)
    assert [r.attempt for r in retries] == [1, 2] and retries[1].delay == 0.5
    assert {(r.provider, r.error_type) for r in retries} == {("primary", "ServiceUnavailableError")}
    done = rec.of(events.RequestFinished)[0]
    assert done.outcome == "ok" and done.provider == "primary" and done.error_type is None
    assert done.usage == events.TokenUsage(input=5, output=1, cache_hit=0)
    assert done.response_model == "test-model" and done.route is resp.route
    assert {e.request_id for e in rec.events} == {started.request_id}


async def test_failover_and_give_up_events_and_logs(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.default = Status(503)
    rec = Recorder()
    backup = FakeProvider("backup", [events_error("backup")])
    caplog.set_level(logging.INFO, logger="deepseek_resilient")
    async with AsyncClient(
        [http_provider(llm_server.base_url), backup],
        retry=Retry(attempts=1),
        clock=FakeClock(),
        hooks=[rec],
    ) as client:
        with pytest.raises(AllProvidersFailed):
            await client.chat.completions.create(messages=[{"role": "user", "content": PROMPT}])
    (failover,) = rec.of(events.Failover)
    assert (failover.from_provider, failover.to_provider) == ("primary", "backup")
    assert failover.reason == "ServiceUnavailableError"
    (done,) = rec.of(events.RequestFinished)
    assert done.outcome == "error" and done.error_type == "AllProvidersFailed"
    assert done.provider is None and done.usage is None
    messages = [r.getMessage() for r in caplog.records if r.name == "deepseek_resilient"]
    assert "failover primary -> backup (ServiceUnavailableError)" in messages
    gave_up = [m for m in messages if m.startswith("gave up: AllProvidersFailed")]
    assert gave_up and "primary: ServiceUnavailableError" in gave_up[0]
    assert all(SECRET not in m and PROMPT not in m for m in messages)


def events_error(provider: str) -> Exception:
    from deepseek_resilient import InternalServerError

    return InternalServerError("boom", provider=provider, status_code=500)


async def test_breaker_changes_skips_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    rec = Recorder()
    primary = FakeProvider("primary", default=events_error("primary"))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="deepseek_resilient")
    async with AsyncClient(
        [primary, FakeProvider("backup")],
        retry=Retry(attempts=1),
        breaker=CircuitBreaker(window=4, min_calls=2, failure_rate=0.5, open_for=10),
        clock=clock,
        hooks=[rec],
    ) as client:
        for _ in range(3):
            await client.chat.completions.create(messages=USER)
        primary.default = "back"
        clock.advance(10)
        await client.chat.completions.create(messages=USER)
    changes = [(e.provider, e.old, e.new) for e in rec.of(events.BreakerStateChanged)]
    assert changes == [
        ("primary", "closed", "open"),
        ("primary", "open", "half-open"),
        ("primary", "half-open", "closed"),
    ]
    skipped = [e for e in rec.of(events.AttemptFinished) if e.outcome == "skipped"]
    assert len(skipped) == 1 and skipped[0].error_type == "CircuitOpenError"
    assert [f.reason for f in rec.of(events.Failover)] == [
        "InternalServerError", "InternalServerError", "CircuitOpenError"
    ]  # fmt: skip
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.WARNING, "breaker primary: closed -> open") in records
    assert (logging.INFO, "breaker primary: half-open -> closed") in records


async def test_cache_coalesce_and_stream_events(llm_server: FaultServer, tmp_path: Any) -> None:
    rec = Recorder()
    llm_server.default = Ok("one two three")
    async with AsyncClient(
        [http_provider(llm_server.base_url)],
        cache=Cache(directory=tmp_path),
        clock=FakeClock(),
        hooks=[rec],
    ) as client:
        await client.chat.completions.create(messages=USER, temperature=0)
        hit = await client.chat.completions.create(messages=USER, temperature=0)
        assert hit.route is not None and hit.route.cache == "hit"
        stream = await client.chat.completions.create(messages=USER, stream=True)
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "one two three"
        # Cut after "one ": restarted, and only what extends the delivered text goes on.
        llm_server.script(CutStream(after=1))
        cut = await client.chat.completions.create(messages=USER, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in cut if c.choices])
        assert text == "one two three"
        # Cut again, and the restart answers something else: the partial is all there is.
        llm_server.script(CutStream(after=1), Ok("another answer"))
        broken_stream = await client.chat.completions.create(messages=USER, stream=True)
        with pytest.raises(IncompleteStreamError):
            async for _ in broken_stream:
                pass
    assert [e.result for e in rec.of(events.CacheLookup)] == ["miss", "hit"]
    finished = rec.of(events.RequestFinished)
    assert [f.cache for f in finished] == ["miss", "hit", "bypass", "bypass", "bypass"]
    assert finished[1].provider == "cache" and finished[1].usage is None
    assert finished[2].stream and finished[2].outcome == "ok"
    assert finished[2].usage is not None and finished[2].usage.output == 3
    assert finished[3].outcome == "ok"
    assert finished[4].outcome == "error" and finished[4].error_type == "IncompleteStreamError"
    commits = rec.of(events.StreamCommitted)
    assert len(commits) == 5 and all(c.provider == "primary" and c.ttft >= 0 for c in commits)
    recovered = rec.of(events.StreamRecovered)
    assert [(r.how, r.delivered_chars) for r in recovered] == [("restart", len("one "))]
    (broken,) = rec.of(events.StreamIncomplete)
    assert broken.provider == "primary" and broken.partial_chars == len("one ")


async def test_coalesced_event() -> None:
    import anyio

    gate = anyio.Event()

    class Gated(FakeProvider):
        async def complete(self, request, *, idle_timeout):  # type: ignore[no-untyped-def]
            await gate.wait()
            return await super().complete(request, idle_timeout=idle_timeout)

    rec = Recorder()
    async with AsyncClient([Gated("p")], clock=FakeClock(), hooks=[rec]) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(lambda: client.chat.completions.create(messages=USER, temperature=0))
            await anyio.wait_all_tasks_blocked()
            gate.set()
    assert len(rec.of(events.Coalesced)) == 2
    finished = rec.of(events.RequestFinished)
    assert sorted(f.coalesced for f in finished) == [False, True, True]
    assert [f.usage is None for f in finished if f.coalesced] == [True, True]


async def test_rate_limit_wait_and_refusal() -> None:
    clock = FakeClock()
    rec = Recorder()
    async with AsyncClient(
        [FakeProvider("p"), FakeProvider("q")],
        rate_limit=RateLimit(requests_per_second=1, burst=1),
        clock=clock,
        timeout=10,
        hooks=[rec],
    ) as client:
        await client.chat.completions.create(messages=USER)
        await client.chat.completions.create(messages=USER)  # waits ~1 s for p's bucket
        await client.chat.completions.create(messages=USER, timeout=0.1)  # p refuses: q
    waits = rec.of(events.RateLimitWaited)
    assert waits and waits[0].provider == "p" and waits[0].waited == pytest.approx(1.0, abs=0.05)
    refused = rec.of(events.RateLimitRefused)
    assert [r.provider for r in refused] == ["p"]


async def test_a_raising_hook_is_logged_once_and_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def on_request_finished(self, event: events.RequestFinished) -> None:
            raise RuntimeError("hook bug")

        def on_attempt_started(self, event: events.AttemptStarted) -> None:
            raise ValueError("another")

    rec = Recorder()
    async with AsyncClient([FakeProvider("p")], hooks=[Broken(), rec]) as client:
        for _ in range(3):
            resp = await client.chat.completions.create(messages=USER)
            assert resp.choices[0].message.content == "fake answer"
    logged = [r for r in caplog.records if "raised" in r.getMessage()]
    assert sorted(r.getMessage().split()[1] for r in logged) == [
        "Broken.on_attempt_started", "Broken.on_request_finished"
    ]  # fmt: skip
    assert len(rec.of(events.RequestFinished)) == 3  # later hooks still get every event


async def test_no_hooks_builds_no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    emitted: list[object] = []
    real, finished = Hooks.emit, Hooks.emit_finished
    monkeypatch.setattr(Hooks, "emit", lambda self, e: (emitted.append(e), real(self, e)))
    monkeypatch.setattr(
        Hooks, "emit_finished", lambda self, e: (emitted.append(e), finished(self, e))
    )
    async with AsyncClient([FakeProvider("p")], stats=False) as client:
        for _ in range(3):
            await client.chat.completions.create(messages=USER)
        stream = await client.chat.completions.create(messages=USER, stream=True)
        await stream.until_done()
    assert emitted == []


async def test_a_success_is_not_handed_to_the_built_in_logging_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(LoggingHook, "on_request_finished", lambda self, e: seen.append(e.outcome))

    class Mine(LoggingHook):  # a subclass's own method gets every request
        def on_request_finished(self, event: events.RequestFinished) -> None:
            seen.append(f"mine:{event.outcome}")

    provider = FakeProvider("p", ["fine", events_error("p")])
    async with AsyncClient([provider], hooks=[Mine()], retry=Retry(attempts=1)) as client:
        await client.chat.completions.create(messages=USER)  # ok
        with pytest.raises(AllProvidersFailed):
            await client.chat.completions.create(messages=USER)  # fails once
    assert seen == ["mine:ok", "error", "mine:error"]


def test_breaker_listeners_are_deprecated_but_still_told() -> None:
    seen: list[str] = []

    class Listener(pybreaker.CircuitBreakerListener):  # type: ignore[misc]
        def state_change(self, cb: object, old: object, new: object) -> None:
            seen.append(str(getattr(new, "name", new)))

    with pytest.deprecated_call(match="breaker_listeners"):
        client = Client(
            [FakeProvider("p", default=events_error("p")), FakeProvider("q")],  # type: ignore[arg-type]
            retry=Retry(attempts=1),
            breaker=CircuitBreaker(window=2, min_calls=2, failure_rate=0.5),
            breaker_listeners=[Listener()],
        )
    with client:
        for _ in range(2):
            client.chat.completions.create(messages=USER)
        assert client.hooks == ()
    assert seen == ["open"]


def test_sync_client_forwards_hooks() -> None:
    rec = Recorder()
    with Client([FakeProvider("p")], hooks=[rec]) as client:
        client.chat.completions.create(messages=USER)
        assert client.hooks == (rec,)
    assert type(rec.events[0]).__name__ == "RequestStarted"
    assert rec.of(events.RequestFinished)[0].outcome == "ok"


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (object(), "none of the hook methods"),
        (Recorder, "takes instances"),
        (type("Typo", (), {"on_failovers": lambda self, e: None})(), "unknown hook methods"),
    ],
)
def test_a_hook_that_would_never_be_called_is_refused(hook: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AsyncClient([FakeProvider("p")], hooks=[hook])


@pytest.mark.parametrize("bad", [[5], ["listener"], [object()], [pybreaker.CircuitBreakerListener]])
def test_a_wrong_breaker_listener_is_refused_at_construction(bad: list[object]) -> None:
    with pytest.raises(ConfigurationError, match=r"breaker_listeners\[0\]"):
        Client([FakeProvider("p")], breaker_listeners=bad)
