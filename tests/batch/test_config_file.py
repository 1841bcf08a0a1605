"""The TOML config file: every section builds what it says, and a bad file names its line
and field (through the public ``Client.from_config`` / ``AsyncClient.from_config``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deepseek_resilient import (
    AsyncClient,
    Client,
    ConfigFileError,
    ConfigurationError,
    DeepSeek,
    OpenAICompatible,
    RateLimit,
    Retry,
)
from deepseek_resilient.testing import FaultServer, Ok


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deepseek-resilient.toml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_full_file_builds_providers_policies_and_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_server: FaultServer
) -> None:
    monkeypatch.setenv("PRIMARY_KEY", "sk-primary-secret-0001")
    llm_server.default = Ok("from the file")
    path = write(
        tmp_path,
        f"""
        timeout = 12.5
        coalesce = false
        breaker = false
        [retry]
        attempts = 2
        base = 0.0
        [[providers]]
        type = "openai_compatible"
        name = "primary"
        base_url = "{llm_server.base_url}"
        api_key = "${{PRIMARY_KEY}}"
        model = "m-1"
        read_timeout = 5
        [providers.rate_limit]
        requests_per_second = 40
        [[providers]]
        type = "openrouter"
        api_key = "${{MISSING_KEY:-sk-default-0002}}"
        """,
    )
    with Client.from_config(path) as client:
        primary, backup = client._async.providers
        assert isinstance(primary, OpenAICompatible)
        assert primary.name == "primary" and primary.model == "m-1"
        assert primary.api_key is not None
        assert primary.api_key.get_secret_value() == "sk-primary-secret-0001"
        assert primary.rate_limit == RateLimit(requests_per_second=40)
        assert primary.read_timeout == 5
        assert isinstance(backup, OpenAICompatible) and backup.name == "openrouter"
        assert backup.base_url == "https://openrouter.ai/api/v1"
        assert backup.model == "deepseek/deepseek-chat-v3-0324"
        assert client._async.timeout == 12.5 and client._async.retry == Retry(attempts=2, base=0)
        assert client._async.health() == {}  # breaker = false
        resp = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
        assert resp.choices[0].message.content == "from the file"
        assert resp.route is not None and resp.route.provider == "primary"
        assert "sk-primary-secret-0001" not in repr(client)


async def test_async_from_env_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds-secret-0003")
    path = write(tmp_path, '[[providers]]\ntype = "deepseek"\n')
    monkeypatch.setenv("DEEPSEEK_RESILIENT_CONFIG", str(path))
    async with AsyncClient.from_config(timeout=3) as client:
        (provider,) = client.providers
        assert isinstance(provider, DeepSeek)
        assert provider.base_url == "https://api.deepseek.com"
        assert client.timeout == 3  # keyword options override the file


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        (
            '[[providers]]\ntype = "deepseek"\napi_key = "k"\n[[providers]]\n'
            'type = "openai_compatible"\nname = "b"\nbase_url = "http://x"\nmodel = "m"\n'
            "[providers.rate_limit]\nrequests_per_second = -1\n",
            10,
            "providers[1].rate_limit.requests_per_second",
            "> 0",
        ),
        ('timeout = "soon"\n', 1, "timeout", "must be"),
        ("[retry]\nattempts = 2\nbackof = 3\n", 3, "retry.backof", "unknown key"),
        ('[[providers]]\ntype = "nope"\n', 2, "providers[0].type", "unknown provider type"),
        (
            '[[providers]]\ntype = "openai_compatible"\nbase_url = "http://x"\nmodel = "m"\n'
            'api_key = "${NOT_SET_ANYWHERE_XYZ}"\n',
            5,
            "providers[0].api_key",
            "NOT_SET_ANYWHERE_XYZ is not set",
        ),
        (
            '[[providers]]\ntype = "openai_compatible"\nbase_url = "http://x"\nmodel = "m"\n'
            "read_timout = 3\n",
            5,
            "providers[0].read_timout",
            "unknown key",
        ),
        ('[[providers]]\ntype = "novita"\n', 2, "providers[0].type", "NOVITA_API_KEY"),
        ("[retry]\nattempts = = 2\n", 2, None, "not valid TOML"),
        ("colour = 3\n", 1, "colour", "unknown key"),
    ],
)
def test_bad_file_names_line_and_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    line: int,
    field: str | None,
    words: str,
) -> None:
    monkeypatch.delenv("NOVITA_API_KEY", raising=False)
    path = write(tmp_path, body)
    with pytest.raises(ConfigFileError) as info:
        Client.from_config(path)
    err = info.value
    assert isinstance(err, ConfigurationError)
    assert (err.line, err.field) == (line, field)
    assert words in str(err) and f"{path}:{line}" in str(err)


def test_no_path_and_no_env_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPSEEK_RESILIENT_CONFIG", raising=False)
    with pytest.raises(ConfigurationError, match="DEEPSEEK_RESILIENT_CONFIG"):
        Client.from_config()


def test_tier_type_without_tier_support_is_a_clear_error(tmp_path: Path) -> None:
    import deepseek_resilient

    path = write(tmp_path, '[[providers]]\ntype = "tier"\nname = "t"\n')
    with pytest.raises(ConfigFileError) as info:
        Client.from_config(path)
    if hasattr(deepseek_resilient, "Tier"):
        assert info.value.field == "providers[0].members"
    else:
        assert info.value.field == "providers[0].type" and "Tier" in str(info.value)


def test_secret_never_in_error_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "sk-never-shown-secret-0004")
    path = write(
        tmp_path,
        '[[providers]]\ntype = "openai_compatible"\nbase_url = "http://x"\nmodel = "m"\n'
        'api_key = "${K}"\nread_timeout = -2\n',
    )
    with pytest.raises(ConfigFileError) as info:
        Client.from_config(path)
    assert "sk-never-shown-secret-0004" not in str(info.value)
    assert info.value.line == 6


def test_state_table_builds_redis_state(
    tmp_path: Path, llm_server: FaultServer, redis_url: str
) -> None:
    path = write(
        tmp_path,
        f"""
        [state]
        url = "{redis_url}"
        namespace = "from-config"
        [[providers]]
        type = "openai_compatible"
        base_url = "{llm_server.base_url}"
        model = "m"
        api_key = "sk-test-not-a-real-key"
        """,
    )
    with Client.from_config(path) as client:
        resp = client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
        assert resp.choices[0].message.content
    bad = write(tmp_path, f'state = "{redis_url}"\n[retry]\nattempts = 0\n')
    with pytest.raises(ConfigFileError) as info:
        Client.from_config(bad)
    assert (info.value.line, info.value.field) == (3, "retry.attempts")
    missing = write(tmp_path, "[state]\nnamespace = 'x'\n")
    with pytest.raises(ConfigFileError) as info:
        Client.from_config(missing)
    assert info.value.field == "state.url"
