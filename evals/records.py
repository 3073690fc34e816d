"""What a run observed, step by step: the raw material of scores and transcripts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from evals.bridge import Post
from evals.clip import RESULT_LIMIT, clip
from evals.proxy import ModelCall
from evals.scenario import Expect

# How a result reads when the arguments never reached the tool's logic (opencode 1.18,
# MCP SDK 2.3): the SDK's schema check, invalid params, or a tool that does not exist.
SCHEMA_REJECTION = re.compile(r"^Error executing tool \S+: \d+ validation errors? for ")
ARGUMENT_REJECTIONS = (
    "MCP error -32602",
    "Model tried to call unavailable tool",
    "The arguments provided to the tool are invalid",
    "Invalid arguments",
)
GATED_APPLY = ("git_apply_change",)  # plus aiqu_cancel_job with a proposal_id


@dataclass
class ToolUse:
    turn_id: str
    call_id: str
    name: str
    arguments: Any  # parsed JSON, or the raw text when it does not parse
    result: str | None  # None: the turn ended before a result came back

    @property
    def status(self) -> str:
        if self.result is None:
            return "no_result"
        if SCHEMA_REJECTION.match(self.result) or self.result.startswith(ARGUMENT_REJECTIONS):
            return "invalid"
        if self.result.startswith(("Error executing tool", "MCP error")):
            return "error"
        return "ok"

    @property
    def gated_proposal(self) -> str | None:
        """The proposal a gated write names, if this call is one."""
        args = self.arguments if isinstance(self.arguments, dict) else {}
        if self.name in GATED_APPLY or (self.name == "aiqu_cancel_job" and args.get("proposal_id")):
            return str(args.get("proposal_id") or "")
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "tool": self.name,
            "arguments": self.arguments,
            "status": self.status,
            "result": clip(self.result, RESULT_LIMIT),
        }


@dataclass
class TurnRecord:
    turn_id: str
    conversation: str
    source: str
    outcome: str | None
    reason: str | None
    seconds: float | None
    calls: list[ModelCall]
    tools: list[ToolUse]
    detail: str | None = None  # the turn log's why, for a failed turn (the model's error)

    @property
    def input(self) -> str:
        """What the service sent the model for this turn (the turn's first user message)."""
        for call in self.calls:
            if call.turn_messages:
                content = call.turn_messages[0].get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""

    @property
    def reply(self) -> str:
        return self.calls[-1].text if self.calls else ""

    def as_json(self) -> dict[str, Any]:
        return {
            "turn_id": self.turn_id,
            "conversation": self.conversation,
            "source": self.source,
            "outcome": self.outcome,
            "reason": self.reason,
            "detail": clip(self.detail),
            "seconds": self.seconds,
            "model_saw": clip(self.input),
            "tool_calls": [t.as_json() for t in self.tools],
            "reply": clip(self.reply),
            "model_requests": len(self.calls),
            "prompt_tokens": _sum(c.prompt_tokens for c in self.calls),
            "completion_tokens": _sum(c.completion_tokens for c in self.calls),
        }


@dataclass(frozen=True)
class Place:
    """Where a step's posts belong: a channel, and the thread root (None: a new message
    there, which then roots the thread of everything else the step posts)."""

    channel: str
    root: str | None


@dataclass
class GateEvent:
    kind: str  # attempted | reached
    what: str


@dataclass
class StepRecord:
    index: int
    kind: str
    at: float
    expect: Expect
    place: Place | None
    turns: list[TurnRecord] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    started_jobs: list[str] = field(default_factory=list)
    cancelled_jobs: list[str] = field(default_factory=list)
    cancelled_people_jobs: list[str] = field(default_factory=list)  # not the agent's own
    remote_commits: list[str] = field(default_factory=list)
    gate: list[GateEvent] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    judge: dict[str, Any] | None = None
    clock: float | None = None  # the scenario clock when the step was delivered

    @property
    def spoke(self) -> bool:
        return any(t.outcome == "posted" for t in self.turns)

    @property
    def messages(self) -> list[Post]:
        """The model's messages (proposal cards and uploads are the service's)."""
        return [p for p in self.posts if p.kind == "post" and not p.card_proposal]

    @property
    def tools(self) -> list[ToolUse]:
        return [t for turn in self.turns for t in turn.tools]


@dataclass
class ScenarioRecord:
    scenario: str
    title: str
    tags: list[str]
    repeat: int
    tag: str  # the namespace suffix of this run
    steps: list[StepRecord] = field(default_factory=list)
    setup_s: float = 0.0
    teardown_s: float = 0.0
    seconds: float = 0.0
    error: str | None = None


def _sum(values: Any) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
