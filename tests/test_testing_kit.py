"""The public testing kit: server rules, clocks, ready-made clients and the pytest fixtures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from deepseek_resilient import AllProvidersFailed, AsyncClient, Client, ServiceUnavailableError
from deepseek_resilient.testing import (
    TESTING_RETRY,
    Chaos,
    Echo,
    FakeClock,
    FakeProvider,
    FaultServer,
    InstantClock,
    NotJson,
    Ok,
    Reset,
    Stall,
    Status,
    plugin,
    server_provider,
    testing_async_client,
    testing_client,
)

pytest_plugins = ("pytester",)
USER = [{"role": "user", "content": "Hi"}]


def ask(client: Client, text: str = "Hi") -> str | None:
    resp = client.chat.completions.create(messages=[{"role": "user", "content": text}])
    return resp.choices[0].message.content


# ----------------------------------------------------------------------------- server rules


def test_on_call_pins_a_step_to_the_nth_request(
    llm_server: FaultServer, llm_client: Client
) -> None:
    llm_server.default = Ok("fine")
    llm_server.on_call(2, Status(503))
    assert ask(llm_client) == "fine"
    assert ask(llm_client) == "fine"  # call 2 failed, call 3 (the retry) answered
    assert [type(r.step).__name__ for r in llm_server.requests] == ["Ok", "Status", "Ok"]


def test_on_call_wins_over_the_script(llm_server: FaultServer, llm_client: Client) -> None:
    llm_server.script(Ok("scripted"))
    llm_server.on_call(1, Ok("pinned"))
    assert ask(llm_client) == "pinned"
    assert ask(llm_client) == "scripted"
    with pytest.raises(ValueError):
        llm_server.on_call(0, Ok())


def test_echo_answers_each_request_with_its_own_text(
    llm_server: FaultServer, llm_client: Client
) -> None:
    llm_server.rule = Echo(prefix="you said: ")
    assert ask(llm_client, "ping-1") == "you said: ping-1"
    assert ask(llm_client, "ping-2") == "you said: ping-2"
    assert [r.text for r in llm_server.requests_with("ping-2")] == ["ping-2"]


def test_chaos_is_reproducible_from_its_seed() -> None:
    mix = [(0.3, Status(503)), (0.1, Reset()), (0.05, NotJson())]
    a, b = Chaos(7, mix), Chaos(7, mix)
    steps_a = [a(i, None) for i in range(500)]
    assert steps_a == [b(i, None) for i in range(500)]
    assert a.counts == b.counts and sum(a.counts.values()) == 500
    assert 100 < a.counts["Status"] < 200 and a.counts["Ok"] > 250  # ~30 %, ~55 %
    assert steps_a != [Chaos(8, mix)(i, None) for i in range(500)]
    with pytest.raises(ValueError):
        Chaos(1, [(0.8, Status(503)), (0.3, Reset())])


def test_chaos_falls_back_to_its_otherwise_rule() -> None:
    chaos = Chaos(1, [], otherwise=Echo())
    body = {"messages": [{"role": "user", "content": "x"}]}
    assert chaos(0, body) == Ok("echo: x")


# ----------------------------------------------------------------------------- clocks


@pytest.mark.anyio
async def test_instant_clock_skips_sleeps_but_keeps_real_time() -> None:
    clock = InstantClock()
    before, wall = clock.now(), time.monotonic()
    await clock.sleep(30)
    assert time.monotonic() - wall < 1.0  # no real waiting
    assert clock.now() - before >= 30 and clock.sleeps == [30] and clock.skipped == 30


@pytest.mark.anyio
async def test_fake_clock_moves_only_when_told(fake_clock: FakeClock) -> None:
    start = fake_clock.now()
    await fake_clock.sleep(5)
    assert fake_clock.now() == start + 5 and fake_clock.sleeps == [5]
    with pytest.raises(ValueError):
        fake_clock.advance(-1)


# ----------------------------------------------------------------------------- ready clients


def test_503_twice_then_ok_is_answered_with_no_real_sleep(
    llm_server: FaultServer, llm_client: Client
) -> None:
    llm_server.script(Status(503), Status(503), Ok("third time"))
    started = time.monotonic()
    resp = llm_client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "third time"
    assert resp.route is not None
    assert [a.status_code for a in resp.route.attempts] == [503, 503, None]
    assert time.monotonic() - started < 2.0


def test_retry_after_is_honoured_on_the_instant_clock(
    llm_server: FaultServer, llm_client: Client, llm_clock: InstantClock
) -> None:
    llm_server.script(Status(429, retry_after=5), Ok("after the wait"))
    started = time.monotonic()
    assert ask(llm_client) == "after the wait"
    assert llm_clock.sleeps == [5.0]  # the hint was honoured...
    assert time.monotonic() - started < 4  # ...without sleeping it


def test_attempts_are_capped(llm_server: FaultServer, llm_client: Client) -> None:
    llm_server.default = Status(503)
    with pytest.raises(AllProvidersFailed) as info:
        ask(llm_client)
    assert llm_server.calls == TESTING_RETRY.attempts
    assert isinstance(info.value.errors[-1], ServiceUnavailableError)


def test_a_stall_is_abandoned_at_the_attempt_timeout() -> None:
    with FaultServer() as server, FaultServer(rule=Echo()) as backup:
        server.default = Stall(seconds=10, interval=0.05)
        primary = server_provider(server, "primary", attempt_timeout=0.3)
        started = time.monotonic()
        with testing_client(primary, backup) as client:
            resp = client.chat.completions.create(messages=USER)
        assert resp.route is not None and resp.route.provider == "llm_server_2"
        assert resp.choices[0].message.content == "echo: Hi"
        assert time.monotonic() - started < 5.0


def test_fake_client_answers_from_the_script(
    fake_provider: FakeProvider, fake_client: Client
) -> None:
    fake_provider.script(ServiceUnavailableError("busy", status_code=503), "scripted answer")
    assert ask(fake_client) == "scripted answer"
    assert fake_provider.calls == 2


def test_testing_client_rejects_what_is_not_a_target() -> None:
    with pytest.raises(TypeError), testing_client("http://x"):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError), testing_client():
        pass


@pytest.mark.anyio
async def test_async_client_fixture(llm_server: FaultServer, llm_async_client: AsyncClient) -> None:
    llm_server.script(Reset(), Ok("after a reset"))
    resp = await llm_async_client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "after a reset"
    assert llm_server.calls == 2


@pytest.mark.anyio
async def test_testing_async_client_without_fixtures() -> None:
    with FaultServer() as server:
        server.script(NotJson(), Ok("valid"))
        async with testing_async_client(server) as client:
            resp = await client.chat.completions.create(messages=USER, stream=True)
            async with resp as stream:
                done = await stream.until_done()
        assert done.choices[0].message.content == "valid"
        assert [r.stream for r in server.requests] == [True, True]


# ----------------------------------------------------------------------------- the plugin


def test_plugin_fixtures_work_in_a_user_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from deepseek_resilient.testing import Ok, Status

        def test_user_code(llm_server, llm_client, llm_clock):
            llm_server.script(Status(429, retry_after=3), Ok("hi"))
            resp = llm_client.chat.completions.create(messages=[{"role": "user", "content": "x"}])
            assert resp.choices[0].message.content == "hi"
            assert llm_clock.sleeps == [3.0]

        def test_fake(fake_provider, fake_client):
            fake_provider.script("scripted")
            resp = fake_client.chat.completions.create(messages=[{"role": "user", "content": "x"}])
            assert resp.choices[0].message.content == "scripted"
        """
    )
    # Installed, the pytest11 entry point loads the plugin; from a source tree, load it by name.
    args = [] if _entry_point() else ["-p", "deepseek_resilient.testing.plugin"]
    result = pytester.runpytest_inprocess(*args, "-q")
    result.assert_outcomes(passed=2)


def _entry_point() -> EntryPoint | None:
    found = [e for e in entry_points(group="pytest11") if e.name == "deepseek_resilient"]
    return found[0] if found else None


def test_the_pytest11_entry_point_names_the_plugin() -> None:
    entry = _entry_point()
    if entry is None:
        pytest.skip("deepseek_resilient is not installed (pip install -e .)")
    assert entry.value == "deepseek_resilient.testing.plugin"
    assert entry.load() is plugin


# ----------------------------------------------------------------------------- docs, examples

ROOT = Path(__file__).resolve().parent.parent
DOC_BLOCK = re.compile(r"```python\n# (test_\w+\.py)\n(.*?)```", re.S)


def test_docs_testing_md_examples_pass(pytester: pytest.Pytester) -> None:
    blocks = DOC_BLOCK.findall((ROOT / "docs" / "testing.md").read_text())
    assert len(blocks) >= 4
    pytester.makepyfile(**{name[:-3]: code for name, code in blocks})
    args = [] if _entry_point() else ["-p", "deepseek_resilient.testing.plugin"]
    result = pytester.runpytest_inprocess(*args, "-q", "-p", "no:cacheprovider")
    tests = sum(len(re.findall(r"^(?:async )?def test_", code, re.M)) for _, code in blocks)
    outcomes = result.parseoutcomes()  # async tests may run once per anyio backend
    assert outcomes.get("passed", 0) >= tests and set(outcomes) <= {"passed", "seconds"}


def test_docs_without_pytest_block_runs() -> None:
    text = (ROOT / "docs" / "testing.md").read_text()
    code = text.split("## Without pytest", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/testing.md", "exec"), {})


def test_example_without_pytest_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "testing_without_pytest.py")],
        capture_output=True, text=True, timeout=60, env=_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "answered by backup" in done.stdout and done.stdout.rstrip().endswith("ok")


def test_sample_app_passes_with_only_the_plugin_fixtures() -> None:
    args = [] if _entry_point() else ["-p", "deepseek_resilient.testing.plugin"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/sample_app", "-q", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
