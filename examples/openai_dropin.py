"""Needs nothing beyond the base install (pip install deepseek-resilient).

openai-python code, with one import changed, offline: a local fault-injecting server plays
DeepSeek (one 503, then a tool call with its reasoning, then the final answer).

    python examples/openai_dropin.py

With a real key, drop the FaultServer and the two environment lines: ``OpenAI()`` then talks
to api.deepseek.com, with the embedded local model as the fallback when it is installed
(``local=True``, the default) and any ``providers=[...]`` you list in between.
"""

from __future__ import annotations

import json
import os
from typing import Any

import openai

from deepseek_resilient import OpenAI, route_of  # was: from openai import OpenAI
from deepseek_resilient.testing import FaultServer, NotJson, Ok, Status

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
TOOL_TURN = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "deepseek-flash",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "",
                "reasoning_content": "The user wants the weather: call the tool.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
        }
    ],
}


def main() -> None:
    with FaultServer() as deepseek:
        deepseek.script(
            Status(503),
            NotJson(body=json.dumps(TOOL_TURN), content_type="application/json"),
            Ok("It is sunny in Paris."),
        )
        os.environ["DEEPSEEK_API_KEY"] = "sk-demo"  # a demo key for the demo server
        os.environ["DEEPSEEK_BASE_URL"] = deepseek.base_url

        client = OpenAI(max_retries=2, local=False)  # openai-python's constructor
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        resp = client.chat.completions.create(
            model="deepseek-flash", messages=messages, tools=TOOLS, reasoning_effort="high"
        )
        msg = resp.choices[0].message
        assert isinstance(client, openai.OpenAI)  # openai's own client, types and errors
        route = route_of(resp)  # who answered, each attempt
        assert route is not None
        print(route.summary())
        for call in msg.tool_calls or []:
            assert call.function is not None
            print("tool call:", call.function.name, json.loads(call.function.arguments))
            messages += [msg, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]

        # The assistant message went back with its reasoning_content, as DeepSeek requires.
        resp = client.with_options(timeout=30).chat.completions.create(
            model="deepseek-flash", messages=messages, tools=TOOLS
        )
        sent = deepseek.requests[-1].body or {}
        print("reasoning sent back:", "reasoning_content" in sent["messages"][1])
        print("answer:", resp.choices[0].message.content)
        print("models:", [m.id for m in client.models.list()])  # passed through to DeepSeek
        client.close()


if __name__ == "__main__":
    main()
