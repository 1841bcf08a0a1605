"""Tool calls on a local model whose chat template has no tool support, in a generic format.

llama.cpp recognises a model's native tool-call format from its chat template; a template
that never mentions tools (SmolLM2's, for one) gets ``tools`` silently dropped. So this module
does what llama.cpp's old "generic" handler did, with the engine's JSON-schema grammar:

* the tools are described in a system message, with the answer format;
* the answer is constrained by a JSON schema to ``{"tool_call": {"name", "arguments"}}``
  (one of the tools, its ``parameters`` schema enforced) or, with ``tool_choice="auto"``,
  ``{"response": "..."}``; ``"required"`` or a named function allows only the call(s);
* the JSON is turned back into OpenAI ``tool_calls`` (``finish_reason="tool_calls"``) or
  plain ``content``.

One call per answer (``parallel_tool_calls`` is not honoured beyond that). Earlier calls and
tool results in the conversation are rendered as text the model can read.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..._core.errors import LocalModelError, UnsupportedParameterError
from ..._models import ChatRequest

__all__ = ["ToolPlan", "show_calls", "tool_plan"]

_INTRO = (
    "You can call these tools. Answer with JSON only: "
    '{"tool_call": {"name": <tool name>, "arguments": <arguments object>}} to call one'
)
_OR_REPLY = ', or {"response": "..."} to answer in words.'


class ToolPlan:
    """How one request's tools shape the engine body, and how to read the answer back."""

    def __init__(
        self, tools: list[dict[str, Any]], choice: str | dict[str, Any], *, provider: str
    ) -> None:
        self.tools = tools
        self.choice = choice
        self.provider = provider
        self.functions = [_function(t, provider) for t in tools]

    def _allowed(self) -> list[dict[str, Any]]:
        if isinstance(self.choice, dict):
            name = (self.choice.get("function") or {}).get("name")
            chosen = [f for f in self.functions if f["name"] == name]
            if not chosen:
                raise UnsupportedParameterError(
                    f"tool_choice names {name!r}, which is not in tools",
                    provider=self.provider,
                    parameter="tool_choice",
                )
            return chosen
        return self.functions

    def schema(self) -> dict[str, Any]:
        """The JSON schema every answer must match."""
        calls = [
            {
                "type": "object",
                "properties": {
                    "tool_call": {
                        "type": "object",
                        "properties": {
                            "name": {"const": f["name"]},
                            "arguments": f.get("parameters") or {"type": "object"},
                        },
                        "required": ["name", "arguments"],
                    }
                },
                "required": ["tool_call"],
            }
            for f in self._allowed()
        ]
        if self.choice == "auto":
            reply = {"type": "object", "properties": {"response": {"type": "string"}},
                     "required": ["response"]}  # fmt: skip
            calls.append(reply)
        return calls[0] if len(calls) == 1 else {"anyOf": calls}

    def system_text(self) -> str:
        """The system message that lists the tools and the answer format."""
        lines = [f"- {json.dumps(f, ensure_ascii=False)}" for f in self._allowed()]
        tail = _OR_REPLY if self.choice == "auto" else "."
        return _INTRO + tail + "\nTools:\n" + "\n".join(lines)

    def apply(self, body: dict[str, Any]) -> None:
        """Put the tools' system text and answer schema into an engine request body."""
        messages = body["messages"]
        text = self.system_text()
        if messages and messages[0]["role"] == "system":
            messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{text}"}
        else:
            messages.insert(0, {"role": "system", "content": text})
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "tool_answer", "schema": self.schema()},
        }

    def message(self, text: str) -> tuple[dict[str, Any], str]:
        """The assistant message and finish reason for the model's (JSON) answer."""
        try:
            answer = json.loads(text)
        except ValueError as exc:
            raise LocalModelError(
                f"the model's tool answer was cut short or is not JSON ({len(text)} chars); "
                "raise max_tokens",
                provider=self.provider,
            ) from exc
        call = answer.get("tool_call") if isinstance(answer, dict) else None
        if not isinstance(call, dict):
            content = answer.get("response", "") if isinstance(answer, dict) else ""
            return {"role": "assistant", "content": str(content)}, "stop"
        tool_call = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": call.get("name", ""),
                "arguments": json.dumps(call.get("arguments", {}), ensure_ascii=False),
            },
        }
        return {"role": "assistant", "content": None, "tool_calls": [tool_call]}, "tool_calls"

    @staticmethod
    def chunks(base: dict[str, Any], message: dict[str, Any], finish: str) -> list[dict[str, Any]]:
        """The streamed form of ``message``: one delta with all of it, then the finish.
        ``base``: the chunk fields every chunk carries (``id``, ``created``, ``model``)."""
        delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        head = {"index": 0, "delta": delta, "finish_reason": None}
        tail = {"index": 0, "delta": {}, "finish_reason": finish}
        return [{**base, "choices": [head]}, {**base, "choices": [tail]}]


def _function(tool: dict[str, Any], provider: str) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, dict):
        raise UnsupportedParameterError(
            f"only function tools are supported locally, not {tool.get('type')!r}",
            provider=provider,
            parameter="tools",
        )
    if not isinstance(function.get("name"), str):
        raise UnsupportedParameterError(
            "a function tool needs a 'name'", provider=provider, parameter="tools"
        )
    return function


def tool_plan(request: ChatRequest, *, provider: str) -> ToolPlan | None:
    """The request's tool plan, or None when it asks for no tool call (no tools, or
    ``tool_choice="none"``). Raises ``UnsupportedParameterError`` for what cannot be done."""
    tools = request.tools
    choice = request.tool_choice if request.tool_choice is not None else "auto"
    if request.functions:
        raise UnsupportedParameterError(
            "the deprecated 'functions' parameter is not supported locally; use 'tools'",
            provider=provider,
            parameter="functions",
        )
    if not tools or choice == "none":
        return None
    if not (choice in ("auto", "required") or isinstance(choice, dict)):
        raise UnsupportedParameterError(
            f"tool_choice={choice!r} is not supported locally",
            provider=provider,
            parameter="tool_choice",
        )
    plan = ToolPlan(tools, choice, provider=provider)
    plan.schema()  # a tool_choice naming no tool raises here, before any work
    return plan


def show_calls(request: ChatRequest, messages: list[dict[str, Any]]) -> None:
    """Write earlier assistant tool calls into ``messages`` (the request's messages as plain
    dicts, same order) in the answer format, so the model reads what it called."""
    for source, item in zip(request.messages, messages, strict=True):
        for call in source.tool_calls or ():
            function = call.get("function") or {}
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except ValueError:
                arguments = function.get("arguments")
            shown = {"tool_call": {"name": function.get("name"), "arguments": arguments}}
            text = json.dumps(shown, ensure_ascii=False)
            item["content"] = f"{item['content']}\n{text}" if item["content"] else text
