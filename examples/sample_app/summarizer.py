"""A tiny app: one-line summaries through a resilient client, degrading gracefully.

from deepseek_resilient import Client, DeepSeek
with Client([DeepSeek()]) as client:
    print(summarize(client, "long text ..."))
"""

from __future__ import annotations

from dataclasses import dataclass

from deepseek_resilient import AllProvidersFailed, AsyncClient, Client, DeadlineExceeded

UNAVAILABLE = "(summary unavailable, please try again later)"
PROMPT = "Summarise in one line:\n\n"


@dataclass(frozen=True)
class Summary:
    text: str
    answered_by: str | None
    """The provider that answered; None when the app fell back to ``UNAVAILABLE``."""


def _messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT + text}]


def summarize(client: Client, text: str, *, timeout: float | None = None) -> Summary:
    """Summarise ``text`` within ``timeout`` seconds (the client's default when None); never
    raises for provider trouble."""
    if not text.strip():
        return Summary("", None)
    try:
        resp = client.chat.completions.create(
            messages=_messages(text), temperature=0, timeout=timeout
        )
    except (AllProvidersFailed, DeadlineExceeded):
        return Summary(UNAVAILABLE, None)
    content = (resp.choices[0].message.content or "").strip()
    return Summary(content, resp.route.provider if resp.route else None)


async def summarize_async(
    client: AsyncClient, text: str, *, timeout: float | None = None
) -> Summary:
    """The async twin, streaming the answer and joining the pieces."""
    if not text.strip():
        return Summary("", None)
    try:
        stream = await client.chat.completions.create(
            messages=_messages(text), stream=True, timeout=timeout
        )
        async with stream:
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    except (AllProvidersFailed, DeadlineExceeded):
        return Summary(UNAVAILABLE, None)
    return Summary("".join(pieces).strip(), stream.route.provider)
