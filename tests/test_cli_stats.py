"""``chat --stats`` and ``doctor --requests``: the stats table and per-provider latency, with
a FaultServer as DeepSeek and no local model (fast; the local-model CLI tests are in local/)."""

from __future__ import annotations

import pytest

from deepseek_resilient.cli import main
from deepseek_resilient.testing import FaultServer, Ok, Status


@pytest.fixture
def deepseek_only(monkeypatch: pytest.MonkeyPatch, llm_server: FaultServer) -> FaultServer:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-cli-SECRET")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", llm_server.base_url)
    monkeypatch.setattr("deepseek_resilient._client.defaults._local_provider", lambda: None)
    return llm_server


def test_chat_stats_prints_the_table_after_the_answer(
    deepseek_only: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    deepseek_only.script(Status(503, retry_after=0), Ok("blue because of Rayleigh"))
    assert main(["chat", "--stats", "Why is the sky blue?"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "blue because of Rayleigh"
    table = err[err.index("reqs") :].splitlines()
    deepseek = next(line.split() for line in table if line.startswith("deepseek"))
    assert deepseek[:4] == ["deepseek", "2", "1", "1"]  # 2 attempts, 1 ok, 1 error
    assert any(line.startswith("(all)") for line in table)
    assert "sk-cli-SECRET" not in out + err and "sky blue" not in err


def test_doctor_shows_breaker_and_latency(
    deepseek_only: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    deepseek_only.default = Ok("word")
    assert main(["doctor", "--requests", "4"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("deepseek"))
    assert row.split()[1:3] == ["closed", "ok"]
    assert "4 calls: p50 " in row and " ms, p99 " in row and "errors 0%" in row
    assert deepseek_only.calls == 4  # the one-token requests (the /models check aside)
