"""API key hygiene (issue 12, items 2 and 3): a distinctive key is looked for in every path
it could leak through, and found in none."""

from __future__ import annotations

import logging

import httpx2
import pytest
from _support import USER

from deepseek_resilient import (
    AllProvidersFailed,
    AsyncClient,
    AuthenticationError,
    ConfigurationError,
    DeepSeek,
    OpenAICompatible,
    Retry,
)
from deepseek_resilient.cli import main
from deepseek_resilient.testing import FaultServer, InstantClock, Ok, Status

pytestmark = pytest.mark.anyio
KEY = "sk-LEAKCANARY7f3a9c21d0"
#: Keys no pattern recognises (a Google-style key, an Azure-style hex key): only the
#: registration of the configured key can hide them.
OTHER_KEYS = ["AIzaLEAKCANARYq8Xv3TnB0pWm", "4f1c9e7a2b6d8e0f3a5c7e9b1d3f5a7c"]
KEYS = [KEY, *OTHER_KEYS]


def _leaks(text: str, key: str = KEY) -> bool:
    return key in text or key[3:] in text


def _provider(base_url: str, key: str = KEY, name: str = "p") -> OpenAICompatible:
    return OpenAICompatible(name=name, base_url=base_url, model="m", api_key=key)


@pytest.mark.parametrize("key", [KEY + "\n", f"  {KEY}\r\n", f"\t{KEY} "])
async def test_surrounding_whitespace_is_stripped(key: str) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["authorization"])
        body = {"id": "x", "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        return httpx2.Response(200, json=body)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        provider = OpenAICompatible(
            name="p", base_url="http://h/v1", model="m", api_key=key, http_client=http
        )
        async with AsyncClient([provider], clock=InstantClock()) as client:
            resp = await client.chat.completions.create(messages=USER)
    assert resp.choices[0].message.content == "ok"
    assert seen == [f"Bearer {KEY}"]


async def test_a_key_read_from_a_file_works_over_a_real_socket(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpcore2's header tracing included
    llm_server.default = Ok("answered")
    async with AsyncClient([_provider(llm_server.base_url, KEY + "\n")]) as client:
        resp = await client.chat.completions.create(messages=USER)
        async with await client.chat.completions.create(messages=USER, stream=True) as stream:
            async for _ in stream:
                pass
    assert resp.choices[0].message.content == "answered"
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert not _leaks(caplog.text)


@pytest.mark.parametrize(
    "key",
    [KEY + "é", KEY[:8] + "\n" + KEY[8:], KEY[:8] + "\x00" + KEY[8:], KEY[:8] + " " + KEY[8:]],
)
def test_a_key_with_bad_characters_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _provider("http://127.0.0.1:9/v1", key)
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert "api_key" in text and not _leaks(text)
    with pytest.raises(ConfigurationError) as info2:
        DeepSeek(api_key=key)
    assert not _leaks(f"{info2.value!r}")


def test_env_keys_are_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY + "\n")
    provider = DeepSeek()
    assert provider.api_key is not None and provider.api_key.get_secret_value() == KEY
    assert not _leaks(repr(provider))
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY + "ü")
    with pytest.raises(ConfigurationError) as info:
        DeepSeek()
    assert not _leaks(repr(info.value))


def test_wrong_key_types_are_configuration_errors() -> None:
    for bad in (123, b"sk-bytes-key", ["k"], "", "   \n"):
        with pytest.raises(ConfigurationError):
            _provider("http://127.0.0.1:9/v1", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", KEYS)
async def test_a_server_echoing_the_key_leaks_it_nowhere(
    llm_server: FaultServer, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    """The 401 body names the key; DEBUG logging is on for every logger (httpx2, httpcore2
    included). The key is in no error text, repr, body, route, or log record, whatever its
    shape."""
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    echo = f"Incorrect API key provided: {key}. Key again: {key}"
    llm_server.default = Status(401, message=echo)
    infos = []
    for stream in (False, True):
        providers = [_provider(llm_server.base_url, key, name=n) for n in ("a", "b")]
        async with AsyncClient(providers, retry=Retry(attempts=1), clock=InstantClock()) as client:
            with pytest.raises(AllProvidersFailed) as caught:
                await client.chat.completions.create(messages=USER, stream=stream)
            infos.append(caught)
    info, info_stream = infos
    assert llm_server.calls == 4
    for exc in (info.value, info_stream.value):
        texts = [str(exc), repr(exc), str(exc.args), repr(exc.route)]
        for err in exc.errors:
            texts += [str(err), repr(err), str(err.args), repr(getattr(err, "body", None))]
        joined = "\n".join(texts)
        assert "Incorrect API key provided: <redacted>" in joined
        assert not _leaks(joined, key)
    auth = info.value.errors[0]
    assert isinstance(auth, AuthenticationError) and auth.status_code == 401
    assert any(r.name.startswith(("httpcore", "httpx")) for r in caplog.records)
    assert not _leaks(caplog.text, key)
    assert not any(_leaks(str(r.args), key) for r in caplog.records)


@pytest.mark.parametrize("key", KEYS)
def test_cli_chat_output_never_shows_the_key(
    llm_server: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
) -> None:
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    monkeypatch.setenv("DEEPSEEK_API_KEY", key + "\n")  # as read from a mounted secret
    monkeypatch.setenv("DEEPSEEK_BASE_URL", llm_server.base_url)
    llm_server.default = Status(401, message=f"Incorrect API key provided: {key}")
    assert main(["chat", "hi"]) == 2
    out, err = capsys.readouterr()
    assert "AuthenticationError" in out + err and not _leaks(out + err, key)
    llm_server.default = Ok("fine")
    monkeypatch.setenv("DEEPSEEK_API_KEY", key + "\n")
    assert main(["chat", "hi"]) == 0  # a fresh process: the stripped key works
    out, err = capsys.readouterr()
    assert "fine" in out and not _leaks(out + err, key)


def test_cli_doctor_output_never_shows_the_key(
    llm_server: FaultServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY + "\n")
    assert main(["doctor"]) == 0  # the trailing newline is stripped: the key is accepted
    out, err = capsys.readouterr()
    assert "key accepted" in out and not _leaks(out + err)

    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY + "é")
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "ConfigurationError" not in out or "api_key" in out
    assert "FAIL" in out and not _leaks(out + err)

    async def echoing_models(self: OpenAICompatible, *, timeout: float = 10.0) -> list[str]:
        # a server whose /models answers 401 naming the key (the server's text, verbatim)
        raise AuthenticationError(f"HTTP 401: Incorrect API key {KEY}", status_code=401)

    monkeypatch.setattr(OpenAICompatible, "models", echoing_models)
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "AuthenticationError" in out and not _leaks(out + err)
