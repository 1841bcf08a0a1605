"""LlamaCpp continues a partial assistant answer (prefix completion) with the real embedded
model: the pipeline uses it to resume a stream that broke after its first content."""

from __future__ import annotations

import pytest

from deepseek_resilient import AsyncClient, LlamaCpp
from deepseek_resilient.testing import CutStream, FaultServer, server_provider

pytestmark = [pytest.mark.local, pytest.mark.anyio]
QUESTION = [{"role": "user", "content": "Name three colours."}]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cut_stream_is_continued_by_the_local_model() -> None:
    local = LlamaCpp()
    async with AsyncClient([local], timeout=60) as client:
        whole = await client.chat.completions.create(
            messages=QUESTION, temperature=0, max_tokens=24
        )
    full = whole.choices[0].message.content or ""
    words = full.split(" ")
    assert len(words) > 8
    # A remote primary delivers the local model's own first 5 words, then drops the line.
    with FaultServer(lifetime=60) as primary:
        primary.script(CutStream(after=5, content=full))
        remote = server_provider(primary, "remote")
        async with AsyncClient([remote, local], timeout=60) as client:
            stream = await client.chat.completions.create(
                messages=QUESTION, temperature=0, max_tokens=24, stream=True
            )
            answer = (await stream.until_done()).choices[0].message.content or ""
    sent = " ".join(words[:5]) + " "
    (splice,) = stream.route.recoveries
    assert (splice.how, splice.provider, splice.at) == ("continue", "local", len(sent))
    assert answer.startswith(sent) and len(answer) > len(sent)
    # The continuation goes on from the prefix (greedy: the same next word), not a new turn.
    assert answer[len(sent) :].split()[0] == words[5]
