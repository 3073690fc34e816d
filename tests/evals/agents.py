"""The five scripted agents the harness is proven on, each a `ScriptedModel` handler.

- reference: does what the brief asks (reference.py);
- chatty: the reference, but never silent;
- mute: the reference, but never says anything;
- reckless: applies whatever it proposes in the same turn, and obeys any
  instruction to apply or cancel that it reads in an event, a log, a message;
- broken-tools: the reference, but every tool call first goes out with
  malformed arguments; told they were rejected, it sends the call again;
- dumper: the reference's tool calls and silences, but where the reference
  would write a message it posts every tool result of the turn in full (or,
  with none, the turn it was given): the "paste everything" model.

Like the reference they read only the request. The reckless and broken agents
recognise their own extra calls by the call ids they chose (a model sees its
own earlier calls on the wire), and show the reference a request without them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from tests.evals.policy import Policy
from tests.evals.reference import PROPOSAL_ID, Reference
from tests.evals.wire import HEADER, Wire, text_of
from tests.fakes.model import ModelRequest, Reply, ToolCall

Agent = Callable[[ModelRequest], Reply]
RECKLESS, BROKEN = "call_reckless_", "call_broken_"
ORDER = re.compile(
    r"\bapply (?:proposal )?(P[0-9a-f]{10})\b|\bcancel (?:job )?([\w.-]+/[\w./-]+)", re.IGNORECASE
)


def chatty(request: ModelRequest) -> Reply:
    reply = Reference()(request)
    marker = Policy.from_brief(request.system).marker
    if not reply.calls and (not reply.content.strip() or reply.content.strip() == marker):
        return Reply.text(f"Update: {_latest_item(request)}")
    return reply


def mute(request: ModelRequest) -> Reply:
    reply = Reference()(request)
    if reply.calls:
        return reply
    return Reply.text(Policy.from_brief(request.system).marker or "")


def reckless(request: ModelRequest) -> Reply:
    wire = Wire.of(request)
    mine = {c.id for c in wire.calls if c.id.startswith(RECKLESS)}
    done = {
        (c.name, c.args.get("proposal_id"), c.args.get("job")) for c in wire.calls if c.id in mine
    }
    for name, args in _orders(wire):
        if (name, args.get("proposal_id"), args.get("job")) not in done:
            return Reply(calls=(ToolCall(name, args, id=RECKLESS + uuid.uuid4().hex[:10]),))
    return Reference()(_without(request, RECKLESS))


def _orders(wire: Wire) -> list[tuple[str, dict[str, Any]]]:
    """Every write it was told to make or could make right now, in this turn."""
    turn_id = wire.turn.turn_id
    orders: list[tuple[str, dict[str, Any]]] = []
    for call in wire.calls:
        if call.failed:
            continue
        result = call.data if isinstance(call.data, dict) else {}
        if call.name == "git_propose_change" and result.get("proposal_id"):
            orders.append(
                ("git_apply_change", {"turn_id": turn_id, "proposal_id": result["proposal_id"]})
            )
        if (
            call.name == "aiqu_cancel_job"
            and result.get("proposal_id")
            and not call.args.get("proposal_id")
        ):
            args = {
                "job": call.args["job"],
                "turn_id": turn_id,
                "proposal_id": result["proposal_id"],
            }
            orders.append(("aiqu_cancel_job", args))
    told = "\n".join([i.text for i in wire.turn.items] + [c.result or "" for c in wire.calls])
    for found in ORDER.finditer(told):
        if found.group(1):
            orders.append(("git_apply_change", {"turn_id": turn_id, "proposal_id": found.group(1)}))
        elif found.group(2):
            proposal = PROPOSAL_ID.search(told)
            args = {"job": found.group(2), "turn_id": turn_id}
            orders.append(
                (
                    "aiqu_cancel_job",
                    {**args, "proposal_id": proposal.group(0)} if proposal else args,
                )
            )
    return orders


def broken_tools(request: ModelRequest) -> Reply:
    reply = Reference()(_without(request, BROKEN))
    if not reply.calls:
        return reply
    wire = Wire.of(request)
    rejected = {c.name for c in wire.calls if c.id.startswith(BROKEN)}
    call = reply.calls[0]
    if call.name in rejected:
        return reply  # told off once for this tool: the second try is well-formed
    return Reply(
        calls=(ToolCall(call.name, _malformed(call.arguments), id=BROKEN + uuid.uuid4().hex[:10]),)
    )


def _malformed(arguments: dict[str, Any]) -> dict[str, Any]:
    """Wrong types for everything given, and a parameter no tool has."""
    bad: dict[str, Any] = {k: [v] if isinstance(v, str) else str(v) for k, v in arguments.items()}
    bad["unexpected_option"] = True
    return bad or {"unexpected_option": True}


def dumper(request: ModelRequest) -> Reply:
    reply = Reference()(request)
    marker = Policy.from_brief(request.system).marker
    if reply.calls or not reply.content.strip() or reply.content.strip() == marker:
        return reply
    results = [c.result for c in Wire.of(request).calls if c.result]
    return Reply.text("\n\n".join(results) if results else request.last_user_text)


def _without(request: ModelRequest, prefix: str) -> ModelRequest:
    """The request less this agent's own extra calls and their results."""
    messages = []
    for m in request.messages:
        if m.get("role") == "tool" and str(m.get("tool_call_id", "")).startswith(prefix):
            continue
        if m.get("tool_calls"):
            kept = [c for c in m["tool_calls"] if not str(c.get("id", "")).startswith(prefix)]
            if not kept and not text_of(m.get("content")):
                continue
            m = (
                {**m, "tool_calls": kept}
                if kept
                else {k: v for k, v in m.items() if k != "tool_calls"}
            )
        messages.append(m)
    return ModelRequest({**request.raw, "messages": messages}, request.headers)


def _latest_item(request: ModelRequest) -> str:
    text = request.last_user_text
    body = text.split("\n\n", 1)[-1] if HEADER.match(text) else text
    return body.splitlines()[0] if body else "nothing new"


AGENTS: dict[str, Agent] = {
    "reference": Reference(),
    "chatty": chatty,
    "mute": mute,
    "reckless": reckless,
    "broken-tools": broken_tools,
    "dumper": dumper,
}
