"""Needs nothing beyond the base install (pip install deepseek-resilient).

Load balancing and hedging, offline: two DeepSeek keys and a backup host serving the same
model (three local fault-injecting servers), balanced in one tier.

    python examples/load_balancing.py

1. ``weighted`` 5/3/2: 20 requests split 10 / 6 / 4, interleaved.
2. ``least_latency`` (the default): the second key slows down (0.3 s to answer) and its
   traffic moves to the others after its first slow answer.
3. ``Hedge``: the first key stalls before its first token; after 0.2 s the same request goes
   to another member, which streams first; the stalled request is cancelled.
"""

from __future__ import annotations

from collections import Counter

from deepseek_resilient import Client, DeepSeek, Hedge, OpenAICompatible, Retry, Tier
from deepseek_resilient.testing import FaultServer, Ok, SlowFirstToken

QUESTION = [{"role": "user", "content": "Name a colour."}]


def members(key1: FaultServer, key2: FaultServer, host: FaultServer) -> list[object]:
    return [
        DeepSeek(name="key1", api_key="sk-demo-1", base_url=key1.base_url),
        DeepSeek(name="key2", api_key="sk-demo-2", base_url=key2.base_url),
        OpenAICompatible(
            name="backup-host", base_url=host.base_url, api_key="sk-demo-3", model="deepseek-flash"
        ),
    ]


def answered_by(client: Client, n: int) -> list[str]:
    out = []
    for _ in range(n):
        resp = client.chat.completions.create(messages=QUESTION)
        out.append(f"{resp.route.provider}" if resp.route else "?")
    return out


def main() -> None:
    with FaultServer() as key1, FaultServer() as key2, FaultServer() as host:
        for server in (key1, key2, host):
            server.default = Ok("Blue.")

        print("1. weighted 5/3/2")
        tier = Tier(members(key1, key2, host), strategy="weighted", weights=[5, 3, 2])  # type: ignore[arg-type]
        with Client([tier], retry=Retry(attempts=1)) as client:
            picks = answered_by(client, 20)
        print("   order:", " ".join(p[-1] if p != "backup-host" else "h" for p in picks[:10]))
        print("   split:", dict(Counter(picks)))

        print("2. least_latency: key2 slows down")
        with Client([Tier(members(key1, key2, host), seed=1)]) as client:  # type: ignore[arg-type]
            before = Counter(answered_by(client, 30))
            key2.default = Ok("Blue.", delay=0.3)
            after = Counter(answered_by(client, 30))
        print("   before:", dict(before))
        print("   after: ", dict(after), "(key2: at most the request that showed it slow)")

        print("3. Hedge(after=0.2): key1 stalls before its first token")
        key2.default = Ok("Blue.")
        key1.default = SlowFirstToken(seconds=10, interval=0.05, content="Blue, late.")
        tier = Tier(members(key1, key2, host), "weighted", [100, 1, 1])  # type: ignore[arg-type]
        with Client([tier], hedge=Hedge(after=0.2, max_extra=1.0)) as client:
            with client.chat.completions.create(messages=QUESTION, stream=True) as stream:
                text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            route = stream.route
        print(f"   {text!r}: {route.summary()}")
        print("   attempts:", [(a.provider, a.outcome) for a in route.attempts])


if __name__ == "__main__":
    main()
