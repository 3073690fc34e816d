"""opencode as the reasoning core: its config, its process, its HTTP API, and the runtime
that keeps it alive and runs turns."""

from agent.opencode.client import ModelRef, OpencodeClient, ToolCallRecord, TurnError, TurnResult
from agent.opencode.config import AGENT_NAME, PROVIDER_ID, McpServerSpec, build_config
from agent.opencode.errors import (
    OpencodeError,
    OpencodeHTTPError,
    OpencodeRestarted,
    OpencodeStartError,
    OpencodeUnavailable,
    TurnTimeout,
)
from agent.opencode.process import OpencodeProcess
from agent.opencode.runtime import DEFAULT_BINARY, OpencodeRuntime

__all__ = [
    "AGENT_NAME",
    "DEFAULT_BINARY",
    "PROVIDER_ID",
    "McpServerSpec",
    "ModelRef",
    "OpencodeClient",
    "OpencodeError",
    "OpencodeHTTPError",
    "OpencodeProcess",
    "OpencodeRestarted",
    "OpencodeRuntime",
    "OpencodeStartError",
    "OpencodeUnavailable",
    "ToolCallRecord",
    "TurnError",
    "TurnResult",
    "TurnTimeout",
    "build_config",
]
