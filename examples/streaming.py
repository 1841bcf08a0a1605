"""Needs nothing beyond the base install (pip install deepseek-resilient).

Streaming with the commit rule, offline: the primary sends only keep-alives (as DeepSeek
does when busy) and is abandoned after its first-token timeout; the fallback streams. Then a
stream cut after its first words is recovered: the answer asked again, and only the part that
extends what was already shown is passed on.

    python examples/streaming.py
"""

from __future__ import annotations

import anyio

from deepseek_resilient import AsyncClient, IncompleteStreamError, OpenAICompatible
from deepseek_resilient.testing import CutStream, FaultServer, Ok, Stall


async def main() -> None:
    with FaultServer() as primary_server, FaultServer() as backup_server:
        words = "Recovered streams never repeat a word and never stop short."
        primary_server.script(
            Stall(seconds=30, interval=0.1), CutStream(after=3, content=words), Ok(words)
        )
        backup_server.default = Ok("Streams fail over until their first token.", keepalives=3)
        primary = OpenAICompatible(
            name="primary",
            base_url=primary_server.base_url,
            model="m",
            first_token_timeout=0.5,  # not retried when it expires: fail over at once
        )
        backup = OpenAICompatible(name="backup", base_url=backup_server.base_url, model="m")
        async with AsyncClient([primary, backup], timeout=10) as client:
            stream = await client.chat.completions.create(
                messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        print(choice.delta.content or "", end="", flush=True)
            print(f"\n{stream.route.summary()}")

            # After the first token, a broken stream is recovered (continued on a provider that
            # declares prefix_completion, else restarted); only if that is impossible is it an
            # IncompleteStreamError carrying the partial text.
            stream = await client.chat.completions.create(
                messages=[{"role": "user", "content": "Again"}], stream=True
            )
            try:
                async with stream:
                    async for chunk in stream:
                        for choice in chunk.choices:
                            print(choice.delta.content or "", end="", flush=True)
                print(f"\n{stream.route.summary()}")
            except IncompleteStreamError as exc:
                print(f"\ncut after {exc.partial!r} from {exc.provider}")


if __name__ == "__main__":
    anyio.run(main)
