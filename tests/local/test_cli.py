"""The ``deepseek-resilient`` command with the real embedded model, offline."""

from __future__ import annotations

import pytest

from deepseek_resilient.cli import main
from deepseek_resilient.testing import FaultServer, Status

pytestmark = pytest.mark.local


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("DEEPSEEK_BASE_URL", raising=False)


def test_chat_without_a_key_answers_with_the_local_model(
    no_key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "Say hello.", "--max-tokens", "8"]) == 0
    out, err = capsys.readouterr()
    assert out.strip()
    assert "loading local model" in err and "loaded in" in err
    assert "route: answered by local" in err and "DEEPSEEK_API_KEY is not set" in err


def test_chat_streams(no_key: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--stream", "Count to three.", "--max-tokens", "8"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and "route: answered by local" in err


def test_busy_deepseek_fails_over_to_local(
    monkeypatch: pytest.MonkeyPatch, llm_server: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.default = Status(503)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-cli-SECRET")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", llm_server.base_url)
    assert main(["chat", "Say hello.", "--max-tokens", "8"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() and "answered by local" in err and "deepseek: ServiceUnavailableError" in err
    assert "sk-cli-SECRET" not in out + err
    assert llm_server.calls >= 1


def test_doctor_prints_a_table(
    monkeypatch: pytest.MonkeyPatch, llm_server: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-cli-SECRET")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", llm_server.base_url)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["provider", "breaker", "status", "detail"]
    assert any(line.startswith("deepseek") and " ok " in line for line in lines)
    assert any(line.startswith("local") and "model loads" in line for line in lines)

    monkeypatch.setenv("DEEPSEEK_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert main(["doctor"]) == 1
    assert "FAIL    APIConnectionError" in capsys.readouterr().out


def test_cli_errors_are_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-x")
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", "http://127.0.0.1:9")
    assert main(["chat", "hi", "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: AllProvidersFailed") and "Traceback" not in err
