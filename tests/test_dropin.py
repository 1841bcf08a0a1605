"""The one-import migration: ``OpenAI`` / ``AsyncOpenAI`` take openai-python's constructor and
build a resilient chain behind openai's own client (the endpoint, the caller's providers,
then the embedded local model)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from deepseek_resilient import (
    AsyncOpenAI,
    ConfigurationError,
    DeepSeek,
    OpenAI,
    OpenAICompatible,
    route_of,
)
from deepseek_resilient.testing import FakeProvider, FaultServer, InstantClock, Ok, Status

USER: list[Any] = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """Stands in for the embedded model (so no model loads here)."""
    fake = FakeProvider(name="local", default="local answer")
    fake.local = True
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: fake)
    return fake


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(lifetime=60, default=Ok("remote answer")) as s:
        yield s


def _names(client: OpenAI | AsyncOpenAI) -> list[str]:
    return [p.name for p in client.transport.client.providers]


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
        assert isinstance(client, openai.OpenAI)
        assert _names(client) == ["openai", "local"]
        assert isinstance(client.transport.client.providers[0], OpenAICompatible)
        assert str(client.base_url).rstrip("/") == server.base_url
        resp = client.chat.completions.create(model="gpt-x", messages=USER)
    assert isinstance(resp, openai.types.chat.ChatCompletion)
    assert resp.choices[0].message.content == "remote answer"
    route = route_of(resp)
    assert route is not None and route.provider == "openai"
    recorded = server.requests[0]
    assert recorded.body is not None and recorded.body["model"] == "gpt-x"
    assert recorded.headers["openai-organization"] == "org-1"
    assert recorded.headers["openai-project"] == "proj-1"
    assert recorded.headers["x-app"] == "demo"
    assert recorded.headers["authorization"] == "<redacted>"
    assert recorded.path.endswith("?api-version=1")


def test_max_retries_then_the_local_model_with_one_warning(
    server: FaultServer, local: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Status(503)
    with caplog.at_level(logging.WARNING, logger="deepseek_resilient"):
        with OpenAI(
            api_key="k", base_url=server.base_url, max_retries=1, clock=InstantClock()
        ) as c:
            resp = c.chat.completions.create(model="gpt-x", messages=USER)
            c.chat.completions.create(model="gpt-x", messages=USER)
    assert resp.choices[0].message.content == "local answer"
    assert resp.model == "fake-model"  # the model that answered, not the one asked for
    route = route_of(resp)
    assert route is not None and route.provider == "local"
    assert server.calls == 4  # per request: the first try and max_retries=1 retry
    assert [a.provider for a in route.attempts] == ["openai", "openai", "local"]
    warnings = [r for r in caplog.records if "embedded local model" in r.getMessage()]
    assert len(warnings) == 1


def test_fallback_providers_answer_with_their_own_model(server: FaultServer) -> None:
    with FaultServer(lifetime=60, default=Status(500)) as dead:
        backup = OpenAICompatible(name="backup", base_url=server.base_url, model="backup-m")
        with OpenAI(
            api_key="k", base_url=dead.base_url, providers=[backup], local=False, max_retries=0
        ) as client:
            resp = client.chat.completions.create(model="gpt-x", messages=USER)
    assert resp.choices[0].message.content == "remote answer"
    assert dead.requests[0].body is not None and dead.requests[0].body["model"] == "gpt-x"
    assert server.requests[0].body is not None and server.requests[0].body["model"] == "backup-m"


def test_deepseek_key_and_no_url_builds_the_deepseek_preset(
    server: FaultServer, local: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", server.base_url)  # DeepSeek's URL, in a test
    with OpenAI(clock=InstantClock()) as client:
        assert isinstance(client.transport.client.providers[0], DeepSeek)
        resp = client.chat.completions.create(
            model="deepseek-flash", messages=USER, extra_body={"thinking": False}
        )
    route = route_of(resp)
    assert route is not None and route.provider == "deepseek"
    body = server.requests[0].body
    assert body is not None
    assert body["model"] == "deepseek-flash" and body["thinking"] == {"type": "disabled"}


def test_deepseek_url_builds_the_preset_without_io(local: FakeProvider) -> None:
    with OpenAI(api_key="sk-ds", base_url="https://api.deepseek.com", local=False) as client:
        (provider,) = client.transport.client.providers
    assert isinstance(provider, DeepSeek)
    assert "sk-ds" not in repr(client.transport.client) + repr(provider)


def test_openai_environment_is_read(
    server: FaultServer, local: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with OpenAI(local=False, clock=InstantClock()) as client:
        assert _names(client) == ["openai"]
        client.chat.completions.create(model="m", messages=USER)
    assert server.calls == 1


def test_no_key_anywhere_is_openais_error() -> None:
    with pytest.raises(openai.OpenAIError, match="api_key"):
        OpenAI(local=False)


@pytest.mark.parametrize(
    "options",
    [
        {"max_retries": -1},
        {"providers": ["not a provider"]},
        {"http_client": httpx2.AsyncClient()},  # the sync client needs a sync http client
    ],
)
def test_bad_constructor_arguments(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", local=False, **options)  # type: ignore[arg-type]


def test_an_http_client_of_the_caller_is_used_with_our_transport(server: FaultServer) -> None:
    seen: list[str] = []
    # openai-python 3.x speaks httpx2, 2.x httpx: the caller passes the one openai takes.
    module: Any = httpx2 if int(openai.__version__.split(".")[0]) >= 3 else __import__("httpx")
    http = module.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]})
    with OpenAI(api_key="k", base_url=server.base_url, local=False, http_client=http) as c:
        resp = c.chat.completions.with_raw_response.create(model="m", messages=USER)
    assert route_of(resp) is not None and seen == ["/v1/chat/completions"]


def test_httpx_timeout_sets_the_phases() -> None:
    timeout = httpx2.Timeout(20.0, connect=3.0)
    with OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", timeout=timeout, local=False) as c:
        provider = c.transport.client.providers[0]
    assert isinstance(provider, OpenAICompatible)
    assert (provider.read_timeout, provider.connect_timeout) == (20.0, 3.0)


def test_with_options_keeps_the_class_and_shares_the_transport(
    server: FaultServer, local: FakeProvider
) -> None:
    with OpenAI(api_key="k", base_url=server.base_url, clock=InstantClock()) as client:
        quick = client.with_options(timeout=5)
        assert isinstance(quick, OpenAI) and quick.transport is client.transport
        quick.chat.completions.create(model="m", messages=USER)
        patient = client.with_options(max_retries=5)
        assert patient.transport is not client.transport
        assert client.with_options(max_retries=5).transport is patient.transport
        assert patient.transport.client.providers[0].retry.attempts == 6
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
        assert isinstance(client, openai.AsyncOpenAI)
        resp = await client.chat.completions.create(model="gpt-x", messages=USER)
        assert resp.choices[0].message.content == "remote answer"
        route = route_of(resp)
        assert route is not None and route.provider == "openai"
        assert [a.outcome for a in route.attempts] == ["error", "ok"]
        stream = await client.chat.completions.create(model="gpt-x", messages=USER, stream=True)
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "remote answer"
        listed = await client.models.list()
        assert [m.id for m in listed.data] == ["test-model"]


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


@pytest.mark.parametrize("stream", [False, True])
def test_per_call_extras_reach_the_callers_endpoint(server: FaultServer, stream: bool) -> None:
    """As with genuine openai: the call's ``extra_headers``, ``extra_query`` and
    ``extra_body`` arrive at the caller's endpoint; the client's own headers too."""
    with OpenAI(
        api_key="k", base_url=server.base_url, local=False, default_headers={"X-Team": "blue"}
    ) as client:
        resp = client.chat.completions.create(
            model="m",
            messages=USER,
            stream=stream,
            extra_headers={"X-Trace": "t1", "X-Team": "red"},
            extra_query={"api-version": "2"},
            extra_body={"vendor_knob": {"level": 3}},
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in resp)  # type: ignore[union-attr]
        else:
            text = resp.choices[0].message.content  # type: ignore[union-attr]
    assert text == "remote answer"
    [seen] = server.requests
    assert seen.headers["x-trace"] == "t1" and seen.headers["x-team"] == "red"
    assert "x-deepseek-resilient-call-headers" not in seen.headers
    assert seen.path.endswith("/chat/completions?api-version=2")
    assert seen.body is not None and seen.body["vendor_knob"] == {"level": 3}


def test_per_call_headers_stay_with_the_callers_endpoint(server: FaultServer) -> None:
    """A fallback provider gets none of the call's own headers (they may carry the
    endpoint's credentials); other endpoints pass them through like openai."""
    with FaultServer(lifetime=60, default=Status(500)) as dead:
        backup = OpenAICompatible(name="backup", base_url=server.base_url, model="backup-m")
        with OpenAI(
            api_key="k", base_url=dead.base_url, providers=[backup], local=False, max_retries=0
        ) as client:
            resp = client.chat.completions.create(
                model="m", messages=USER, extra_headers={"X-Endpoint-Key": "secret"}
            )
            client.models.list(extra_headers={"X-Trace": "t2"})
    assert resp.choices[0].message.content == "remote answer"
    assert dead.requests[0].headers["x-endpoint-key"] == "secret"
    assert "x-endpoint-key" not in server.requests[0].headers
    [listed] = dead.other_requests
    assert listed.headers["x-trace"] == "t2"
    assert "x-deepseek-resilient-call-headers" not in listed.headers


def test_an_api_key_callable_is_asked_per_request_and_sent_to_the_endpoint(
    server: FaultServer,
) -> None:
    """openai-python takes a callable for ``api_key`` and asks it before each request; the
    key it returns goes to the caller's endpoint (never to a fallback)."""
    keys = iter(["sk-first", "sk-second"])
    with FaultServer(lifetime=60, default=Ok("remote answer")) as endpoint:
        backup = OpenAICompatible(name="backup", base_url=server.base_url, model="backup-m")
        with OpenAI(
            api_key=lambda: next(keys), base_url=endpoint.base_url, providers=[backup],
            local=False, max_retries=0,
        ) as client:  # fmt: skip
            for _ in range(2):
                client.chat.completions.create(model="m", messages=USER)
    first, second = endpoint.requests
    assert first.authorization_is("Bearer sk-first") and second.authorization_is("Bearer sk-second")
    assert "x-deepseek-resilient-call-headers" not in first.headers


@pytest.mark.anyio
async def test_an_async_api_key_callable_and_no_key_to_a_fallback(server: FaultServer) -> None:
    async def key() -> str:
        return "sk-async"

    with FaultServer(lifetime=60, default=Status(500)) as dead:
        backup = OpenAICompatible(name="backup", base_url=server.base_url, model="backup-m")
        async with AsyncOpenAI(
            api_key=key, base_url=dead.base_url, providers=[backup], local=False, max_retries=0
        ) as client:
            resp = await client.chat.completions.create(model="m", messages=USER)
    assert resp.choices[0].message.content == "remote answer"
    assert dead.requests[0].authorization_is("Bearer sk-async")
    assert server.requests[0].auth_digest is None  # the backup has no key of its own
