"""Secrets that are not API keys (issue 23): credentials in a ``base_url``, Basic credentials a
server echoes, secrets in custom headers. Each is looked for in reprs, error texts, every log
record (ours, httpx2's and httpcore2's at DEBUG) and the CLI's output, and found in none."""

from __future__ import annotations

import base64
import logging

import pytest
from _support import USER

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    ConfigurationError,
    OpenAICompatible,
    Retry,
)
from deepseek_resilient._core.redact import redact
from deepseek_resilient.cli import main
from deepseek_resilient.testing import FaultServer, InstantClock, Ok, Status

PASSWORD = "pw-LEAKCANARY-9c1e"
HEADER_SECRET = "hdr0LEAKCANARY5b7d9f1a3c"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def _clean(text: str) -> bool:
    return PASSWORD not in text and BASIC not in text and HEADER_SECRET not in text


def _texts(exc: AllProvidersFailed) -> str:
    texts = [str(exc), repr(exc), str(exc.args), repr(exc.route)]
    for err in exc.errors:
        texts += [str(err), repr(err), str(err.args), repr(getattr(err, "body", None))]
    return "\n".join(texts)


@pytest.mark.anyio
async def test_url_credentials_leak_nowhere(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``http://alice:password@host``: the client sends them as Basic auth; the server echoes
    the header and the password. httpx2 logs each request's URL at INFO."""
    caplog.set_level(logging.DEBUG)
    host = llm_server.base_url.split("://", 1)[1]
    url = f"http://alice:{PASSWORD}@{host}"
    provider = OpenAICompatible(name="p", base_url=url, model="m")
    assert _clean(repr(provider)) and "<redacted>@" in repr(provider)
    assert _clean(provider.identity)  # cache keys are built from it
    async with AsyncClient([provider], clock=InstantClock()) as client:
        answer = await client.chat.completions.create(messages=USER)
        assert answer.choices[0].message.content
        assert llm_server.requests[0].authorization_is(f"Basic {BASIC}")
        echo = f"bad credentials: Authorization: Basic {BASIC} (password {PASSWORD}) for {url}"
        llm_server.default = Status(401, message=echo)
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER, stream=True)
    assert "Basic <redacted>" in _texts(info.value) and _clean(_texts(info.value))
    urls = [r for r in caplog.records if r.name == "httpx2" and "HTTP Request" in r.getMessage()]
    assert urls and all("<redacted>@" in r.getMessage() for r in urls)
    assert any(r.name.startswith("httpcore2") for r in caplog.records)
    assert _clean(caplog.text)
    assert not any(not _clean(str(r.args)) or not _clean(str(r.msg)) for r in caplog.records)


@pytest.mark.anyio
async def test_a_secret_custom_header_leaks_nowhere(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Azure-style ``api-key`` header: sent as given, and redacted when the server echoes it."""
    caplog.set_level(logging.DEBUG)
    provider = OpenAICompatible(
        name="azure", base_url=llm_server.base_url, model="m", headers={"api-key": HEADER_SECRET}
    )
    llm_server.default = Status(401, message=f"Access denied: key {HEADER_SECRET} is invalid")
    async with AsyncClient([provider], retry=Retry(attempts=1), clock=InstantClock()) as client:
        with pytest.raises(AllProvidersFailed) as info:
            await client.chat.completions.create(messages=USER)
    assert llm_server.requests[0].headers["api-key"] == HEADER_SECRET  # it was sent
    assert "key <redacted> is invalid" in _texts(info.value)
    assert _clean(_texts(info.value)) and _clean(caplog.text)


@pytest.mark.parametrize(
    "headers",
    [
        {"api-key": HEADER_SECRET + "\n"},  # read from a file with its newline
        {"X-Custom": "a\r\nInjected: yes"},
        {"api-key": HEADER_SECRET + "\x00"},
        {"bad header": "v"},
        {"": "v"},
        {"api-key": HEADER_SECRET + "é"},
    ],
)
def test_invalid_header_values_are_refused_at_construction(headers: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAICompatible(name="p", base_url="http://127.0.0.1:9/v1", model="m", headers=headers)
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert "header" in text and _clean(text)


def test_valid_headers_are_accepted() -> None:
    headers = {"X-Title": "my app (v2)", "HTTP-Referer": "https://example.com/a?b=c\tok"}
    OpenAICompatible(name="p", base_url="http://127.0.0.1:9/v1", model="m", headers=headers)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcjpwdw==", "Authorization: Basic <redacted>"),
        ("basic dXNlcjpwdw", "basic <redacted>"),  # unpadded
        ("basic authentication failed", "basic authentication failed"),  # not base64 of a:b
        ('Basic realm="api"', 'Basic realm="api"'),
        ("GET https://bob:s3cr3t@api.example.com/v1", "GET https://<redacted>@api.example.com/v1"),
        ("redis://:pass@host:6379/0", "redis://<redacted>@host:6379/0"),
        ("https://api.example.com/v1?user=a@b", "https://api.example.com/v1?user=a@b"),
        ("mail me: a@b.c", "mail me: a@b.c"),
        ("Bearer abc.def-ghi", "Bearer <redacted>"),
        ("key sk-abcdef123", "key sk-<redacted>"),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_cli_never_shows_url_credentials(
    llm_server: FaultServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    host = llm_server.base_url.split("://", 1)[1]
    monkeypatch.setenv("DEEPSEEK_BASE_URL", f"http://alice:{PASSWORD}@{host}")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-cli-url-test-key")
    llm_server.default = Status(401, message=f"no: Basic {BASIC} / {PASSWORD}")
    main(["doctor"])
    assert main(["chat", "hi"]) == 2
    out, err = capsys.readouterr()
    assert "AuthenticationError" in out + err and _clean(out + err)
    llm_server.default = Ok("fine")
    assert main(["doctor"]) == 0
    out, err = capsys.readouterr()
    assert _clean(out + err)
