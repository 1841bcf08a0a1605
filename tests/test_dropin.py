"""The one-import migration: ``OpenAI`` / ``AsyncOpenAI`` with openai-python's constructor
build a resilient chain (the endpoint, then the embedded local model)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from deepseek_resilient import (
    AsyncOpenAI,
    Client,
    ConfigurationError,
    DeepSeek,
    OpenAI,
    OpenAICompatible,
)
from deepseek_resilient.testing import FakeProvider, FaultServer, InstantClock, Ok, Status

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """Stands in for the embedded model (so no model loads here)."""
    fake = FakeProvider(name="local", default="local answer")
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: fake)
    return fake


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=60, default=Ok("remote answer")) as s:
        yield s


def test_sync_openai_constructor_over_any_endpoint(
    server: FaultServer, local: FakeProvider
) -> None:
    with OpenAI(
        api_key="sk-test",
        base_url=server.base_url,
        organization="org-1",
        project="proj-1",
        default_headers={"X-App": "demo"},
        default_query={"api-version": "1"},
        max_retries=2,
        timeout=30,
        clock=InstantClock(),
    ) as client:
        assert isinstance(client, Client)
        assert [p.name for p in client.providers] == ["openai", "local"]
        assert isinstance(client.providers[0], OpenAICompatible)
        assert client.base_url == server.base_url
        resp = client.chat.completions.create(model="gpt-x", messages=USER)
    assert resp.choices[0].message.content == "remote answer"
    assert resp.route is not None and resp.route.provider == "openai"
    recorded = server.requests[0]
    assert recorded.body is not None and recorded.body["model"] == "gpt-x"
    assert recorded.headers["openai-organization"] == "org-1"
    assert recorded.headers["openai-project"] == "proj-1"
    assert recorded.headers["x-app"] == "demo"
    assert recorded.headers["authorization"] == "<redacted>"
    assert recorded.path.endswith("?api-version=1")


def test_max_retries_then_the_local_model(server: FaultServer, local: FakeProvider) -> None:
    server.default = Status(503)
    with OpenAI(api_key="k", base_url=server.base_url, max_retries=1, clock=InstantClock()) as c:
        resp = c.chat.completions.create(model="gpt-x", messages=USER)
    assert resp.choices[0].message.content == "local answer"
    assert resp.route is not None and resp.route.provider == "local"
    assert server.calls == 2  # the first try and max_retries=1 retry
    assert [a.provider for a in resp.route.attempts] == ["openai", "openai", "local"]


def test_deepseek_key_and_no_url_builds_the_deepseek_preset(
    server: FaultServer, local: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", server.base_url)  # DeepSeek's URL, in a test
    with OpenAI(clock=InstantClock()) as client:
        assert isinstance(client.providers[0], DeepSeek)
        resp = client.chat.completions.create(messages=USER, thinking=False)
    assert resp.route is not None and resp.route.provider == "deepseek"
    body = server.requests[0].body
    assert body is not None
    assert body["model"] == "deepseek-flash" and body["thinking"] == {"type": "disabled"}


def test_deepseek_url_builds_the_preset_without_io(local: FakeProvider) -> None:
    with OpenAI(api_key="sk-ds", base_url="https://api.deepseek.com", local=False) as client:
        (provider,) = client.providers
    assert isinstance(provider, DeepSeek) and provider.model == "deepseek-flash"
    assert "sk-ds" not in repr(client) + repr(provider)


def test_openai_environment_is_read(
    server: FaultServer, local: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with OpenAI(local=False, clock=InstantClock()) as client:
        assert [p.name for p in client.providers] == ["openai"]
        client.chat.completions.create(model="m", messages=USER)
    assert server.calls == 1


def test_no_key_anywhere_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="DEEPSEEK_API_KEY"):
        OpenAI()


@pytest.mark.parametrize(
    "options",
    [
        {"max_retries": -1},
        {"timeout": "soon"},
        {"http_client": httpx2.Client()},
    ],
)
def test_bad_constructor_arguments(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", local=False, **options)  # type: ignore[arg-type]


def test_httpx_timeout_sets_the_phases() -> None:
    timeout = httpx2.Timeout(20.0, connect=3.0)
    with OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", timeout=timeout, local=False) as c:
        provider = c.providers[0]
    assert isinstance(provider, OpenAICompatible)
    assert (provider.read_timeout, provider.connect_timeout) == (20.0, 3.0)


def test_with_options_keeps_the_class(server: FaultServer, local: FakeProvider) -> None:
    with OpenAI(api_key="k", base_url=server.base_url, clock=InstantClock()) as client:
        quick = client.with_options(timeout=5)
        assert isinstance(quick, OpenAI)
        quick.chat.completions.create(model="m", messages=USER)
    assert server.calls == 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_openai(server: FaultServer, local: FakeProvider) -> None:
    server.script(Status(500))
    async with AsyncOpenAI(
        api_key="sk-test", base_url=server.base_url, max_retries=1, clock=InstantClock()
    ) as client:
        resp = await client.chat.completions.create(model="gpt-x", messages=USER)
        assert resp.choices[0].message.content == "remote answer"
        assert resp.route is not None and resp.route.provider == "openai"
        assert [a.outcome for a in resp.route.attempts] == ["error", "ok"]
        stream = await client.chat.completions.create(model="gpt-x", messages=USER, stream=True)
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "remote answer"
        listed = await client.models.list()
        assert [m.id for m in listed] == ["test-model", "fake-model"]


def test_the_dropin_example_runs() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "openai_dropin.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "answered by deepseek" in done.stdout and "ServiceUnavailableError" in done.stdout
    assert "tool call: weather {'city': 'Paris'}" in done.stdout
    assert "reasoning sent back: True" in done.stdout
    assert "answer: It is sunny in Paris." in done.stdout
