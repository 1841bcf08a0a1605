"""``Agent``: a rule that answers what an agent framework asks for, offline: tool calls with
arguments built from each tool's schema, then answers that follow ``response_format``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._schema import instance_of
from ._steps import Ok, Step, ToolCall, message_texts

__all__ = ["Agent"]


@dataclass(frozen=True)
class Agent:
    """A rule for ``FaultServer(rule=Agent())``. For each request:

    - a tool forced by ``tool_choice`` (``{"type": "function", "function": {"name": ...}}``)
      is called, with arguments built from its JSON schema (``testing.instance_of``);
    - with ``tools`` and no tool result in the conversation yet, the first tool is called
      (``tool_choice="none"`` excepted);
    - with ``tool_choice="required"`` after a tool result, a tool named ``final_result...``
      (or the last tool) is called;
    - otherwise the answer follows ``response_format``: an instance of its ``json_schema``,
      ``{}`` for ``json_object``, or else ``text`` + the last message's text.

    ``arguments`` overrides the arguments per tool name."""

    text: str = "echo: "
    arguments: dict[str, dict[str, Any]] | None = None

    def __call__(self, index: int, body: dict[str, Any] | None) -> Step:
        body = body if isinstance(body, dict) else {}
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        choice = body.get("tool_choice")
        chosen = self._chosen(tools, choice, _has_tool_result(body))
        if chosen is not None:
            return Ok("", tool_calls=(self._call(chosen),))
        return Ok(self._content(body))

    def _chosen(self, tools: list[dict[str, Any]], choice: Any, answered: bool) -> Any:
        if not tools or choice == "none":
            return None
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            return next((t for t in tools if _name(t) == name), None)
        if not answered:
            return tools[0]
        if choice == "required":
            finals = [t for t in tools if _name(t).startswith("final_result")]
            return (finals or tools)[-1]
        return None

    def _call(self, tool: dict[str, Any]) -> ToolCall:
        name = _name(tool)
        given = (self.arguments or {}).get(name)
        if given is not None:
            return ToolCall(name, given)
        schema = (tool.get("function") or {}).get("parameters") or {}
        arguments = instance_of(schema)
        return ToolCall(name, arguments if isinstance(arguments, dict) else {})

    def _content(self, body: dict[str, Any]) -> str:
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {}
            return json.dumps(instance_of(schema))
        if isinstance(fmt, dict) and fmt.get("type") == "json_object":
            return "{}"
        texts = message_texts(body)
        return self.text + (texts[-1] if texts else "")


def _name(tool: dict[str, Any]) -> str:
    return str((tool.get("function") or {}).get("name") or tool.get("name") or "")


def _has_tool_result(body: dict[str, Any]) -> bool:
    messages = body.get("messages")
    return isinstance(messages, list) and any(
        isinstance(m, dict) and m.get("role") == "tool" for m in messages
    )
