"""The request as the model should read it: the same prefix on every turn, and no noise.

opencode appends to the agent's prompt a line naming the model and an `<env>`
block with the working directory and **today's date**. In a chat template the
tools come after the system text, so that block, different every day and in
every work dir, sits ahead of ~3,000 tokens of tool schemas: every new day (and
every eval stage) a CPU model would process them all again. None of it helps
this agent (it has no file tools; each event carries its own time), so it is
cut, and the system text plus tools are byte-identical across turns,
conversations, directories and days, which lets the server's prompt cache
carry them. opencode also adds `additionalProperties: false` to every tool's
parameters; the tools check their arguments themselves, so that line is cut too.
"""

from __future__ import annotations

import re
from typing import Any

_MODEL_LINE = re.compile(r"^You are powered by the model named .*\n?", re.MULTILINE)
_ENV_BLOCK = re.compile(
    r"^(?:Here is some useful information about the environment you are running in:"
    r"|The environment you are running in is now:)\n<env>\n.*?</env>\n?",
    re.MULTILINE | re.DOTALL,
)
_DATE_LINE = re.compile(r"^Today's date(?: is now)?: .*\n?", re.MULTILINE)
_REFERENCES = re.compile(
    r"^Project references provide .*?\n<available_references>\n.*?</available_references>\n?",
    re.MULTILINE | re.DOTALL,
)


def stable_system(text: str) -> str:
    """The system text without the model line, the `<env>` block and the date."""
    for pattern in (_MODEL_LINE, _ENV_BLOCK, _DATE_LINE, _REFERENCES):
        text = pattern.sub("", text)
    return text


def _content(content: Any, rewrite: Any) -> Any:
    if isinstance(content, str):
        return rewrite(content)
    if isinstance(content, list):
        return [
            {**part, "text": rewrite(part["text"])}
            if isinstance(part, dict) and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    return content


def compact_tool(tool: Any) -> Any:
    """A tool without the top-level `additionalProperties: false` opencode adds."""
    if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
        return tool
    params = tool["function"].get("parameters")
    if not isinstance(params, dict) or params.get("additionalProperties") is not False:
        return tool
    params = {k: v for k, v in params.items() if k != "additionalProperties"}
    return {**tool, "function": {**tool["function"], "parameters": params}}


def stable_request(body: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions body with a stable system prompt and compact tools."""
    messages = [
        {**m, "content": _content(m.get("content"), stable_system)}
        if isinstance(m, dict) and m.get("role") == "system"
        else m
        for m in body.get("messages") or []
    ]
    out = {**body, "messages": messages}
    if isinstance(body.get("tools"), list):
        out["tools"] = [compact_tool(t) for t in body["tools"]]
    return out


def offered_tools(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.append(fn["name"])
    return names
