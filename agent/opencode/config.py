"""The opencode configuration the service generates at start.

One OpenAI-compatible provider (`local`), one primary agent (`mlops`) whose
prompt is the brief file, and one local MCP server per skill. The agent's
permission denies everything and allows each skill's tool prefix only: a tool
whose last matching rule is a bare `"*": "deny"` is removed from what the model
sees, so bash, edit, write, webfetch, question, todo… never reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDER_ID = "local"
AGENT_NAME = "mlops"


@dataclass(frozen=True)
class McpServerSpec:
    """A skill's MCP server: opencode names its tools `<name>_<tool>`."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    timeout_ms: int = 30_000

    def __post_init__(self) -> None:
        # The name becomes a permission pattern and a tool prefix; anything else
        # opencode would rewrite to "_" and the allow rule would not match.
        if not self.name or not all(c.isalnum() or c in "-" for c in self.name):
            raise ValueError(
                f"MCP server name {self.name!r} must be letters, digits or '-', e.g. 'aiqu'"
            )
        if not self.command:
            raise ValueError(f"MCP server {self.name!r} needs a command, e.g. ['python', '-m', …]")


def build_config(
    *,
    base_url: str,
    model_id: str,
    api_key: str,
    context: int,
    max_output: int,
    prompt_file: Path,
    mcp_servers: list[McpServerSpec],
    temperature: float = 0.2,
    request_timeout_s: float = 300.0,
) -> dict[str, Any]:
    """The whole opencode config as a JSON-able dict (written to `OPENCODE_CONFIG`).

    `request_timeout_s` bounds one model request: give it the turn's timeout. opencode's
    own default waits 300 s for the response headers and between two stream chunks,
    then cancels and silently sends the request again, a loop a CPU model's first
    prompt (minutes) never leaves."""
    names = [s.name for s in mcp_servers]
    if len(set(names)) != len(names):
        raise ValueError(f"MCP server names must be unique, got {names}")
    provider = _provider(base_url, model_id, api_key, context, max_output, request_timeout_s)
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {PROVIDER_ID: provider},
        "enabled_providers": [PROVIDER_ID],
        "model": f"{PROVIDER_ID}/{model_id}",
        # The small model titles sessions and summarises; same endpoint, same model.
        "small_model": f"{PROVIDER_ID}/{model_id}",
        "agent": {AGENT_NAME: _agent(prompt_file, _permission(names), temperature)},
        "default_agent": AGENT_NAME,
        "mcp": {s.name: _mcp_server(s) for s in mcp_servers},
        "instructions": [],
        "snapshot": False,
        "share": "disabled",
        "autoupdate": False,
        # A job's conversation grows by one turn per event for the whole run.
        # auto: summarise with the model once usage nears context - output;
        # prune: drop old tool outputs (metric dumps, log tails) first.
        "compaction": {"auto": True, "prune": True},
    }


def _provider(
    base_url: str,
    model_id: str,
    api_key: str,
    context: int,
    max_output: int,
    request_timeout_s: float,
) -> dict[str, Any]:
    """The one OpenAI-compatible provider: the model endpoint and its one model."""
    timeout_ms = int(request_timeout_s * 1000)
    return {
        "npm": "@ai-sdk/openai-compatible",
        "name": "Self-hosted model",
        "options": {
            "baseURL": base_url.rstrip("/"),
            "apiKey": api_key,
            "timeout": timeout_ms,
            "headerTimeout": timeout_ms,
            "chunkTimeout": timeout_ms,
        },
        "models": {
            model_id: {
                "name": model_id,
                "tool_call": True,
                # Without it opencode sends no temperature at all (llama.cpp: 0.8).
                "temperature": True,
                "limit": {"context": context, "output": max_output},
            }
        },
    }


def _permission(skill_names: list[str]) -> dict[str, str]:
    """Deny everything, then allow each skill's tool prefix."""
    permission: dict[str, str] = {"*": "deny"}
    permission.update({f"{name}_*": "allow" for name in skill_names})
    # opencode asks a person before a third identical call in one step; nobody is there to
    # answer a headless turn, and the refusal ended the turn as an error. The model path
    # stops repeated calls instead (agent/model/loops.py). The last matching rule wins.
    permission["doom_loop"] = "allow"
    return permission


def _agent(prompt_file: Path, permission: dict[str, str], temperature: float) -> dict[str, Any]:
    """The one primary agent: the brief file as its prompt."""
    return {
        "mode": "primary",
        "description": "Watches training jobs and talks about them in chat",
        "prompt": "{file:" + str(prompt_file.resolve()) + "}",
        "permission": permission,
        "temperature": temperature,
    }


def _mcp_server(spec: McpServerSpec) -> dict[str, Any]:
    """A skill as a local MCP server opencode starts and stops with itself."""
    return {
        "type": "local",
        "command": list(spec.command),
        "environment": dict(spec.environment),
        "enabled": True,
        "timeout": spec.timeout_ms,
    }
