"""The sample app's tests: only the deepseek_resilient plugin's fixtures, no setup code."""

from __future__ import annotations

import pytest
from summarizer import UNAVAILABLE, summarize, summarize_async

from deepseek_resilient.testing import Echo, Hang, Ok, Reset, Stall, Status


def test_summary_of_a_healthy_answer(llm_server, llm_client):
    llm_server.script(Ok("A cat sat on a mat."))
    summary = summarize(llm_client, "The cat, which was orange, sat on the mat all day.")
    assert summary.text == "A cat sat on a mat."
    assert summary.answered_by == "llm_server"
    # What the app sent upstream:
    [request] = llm_server.requests
    assert request.body is not None and request.body["temperature"] == 0
    assert request.text.startswith("Summarise in one line:")


def test_survives_503_twice_then_ok(llm_server, llm_client):
    llm_server.script(Status(503), Status(503), Ok("fine"))
    assert summarize(llm_client, "text").text == "fine"
    assert llm_server.calls == 3


def test_honours_retry_after_without_sleeping(llm_server, llm_client, llm_clock):
    llm_server.script(Status(429, retry_after=2), Ok("fine"))
    assert summarize(llm_client, "text").text == "fine"
    assert llm_clock.sleeps == [2.0]  # waited "2 s" on the test clock, not really


def test_connection_reset_is_retried(llm_server, llm_client):
    llm_server.script(Reset(), Ok("fine"))
    assert summarize(llm_client, "text").text == "fine"


def test_degrades_gracefully_when_the_server_stays_down(llm_server, llm_client):
    llm_server.default = Status(503)
    summary = summarize(llm_client, "text")
    assert summary == summary.__class__(UNAVAILABLE, None)
    assert llm_server.calls == 3  # the testing client's attempts cap


def test_every_request_gets_its_own_answer(llm_server, llm_client):
    llm_server.rule = Echo(prefix="")
    texts = [f"document {i}" for i in range(5)]
    assert [summarize(llm_client, t).text for t in texts] == [
        f"Summarise in one line:\n\n{t}" for t in texts
    ]


def test_empty_text_never_calls_the_api(llm_server, llm_client):
    assert summarize(llm_client, "   ").text == ""
    assert llm_server.calls == 0


def test_with_the_in_process_fake(fake_provider, fake_client):
    fake_provider.script("From the fake.")
    summary = summarize(fake_client, "text")
    assert summary == summary.__class__("From the fake.", "fake")
    assert fake_provider.requests[0].temperature == 0


@pytest.mark.anyio
async def test_async_streaming_summary(llm_server, llm_async_client):
    llm_server.script(Status(503), Ok("streamed summary here"))
    summary = await summarize_async(llm_async_client, "text")
    assert summary.text == "streamed summary here"
    assert [r.stream for r in llm_server.requests] == [True, True]


def test_a_stalled_server_degrades_within_the_deadline(llm_server, llm_client):
    # DeepSeek, when busy, sends keep-alive blank lines for minutes: only the deadline helps.
    llm_server.script(Stall(seconds=10, interval=0.05))
    assert summarize(llm_client, "text", timeout=0.5).text == UNAVAILABLE


@pytest.mark.anyio
async def test_async_hang_degrades_within_the_deadline(fake_provider, fake_async_client):
    fake_provider.default = Hang()  # the in-process fake can hang too
    assert (await summarize_async(fake_async_client, "text", timeout=0.3)).text == UNAVAILABLE
