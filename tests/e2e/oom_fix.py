"""The seed's story, shared by the Slack, web page and Matrix tests.

A job runs out of GPU memory because its config says `image_size: 1280`; a
person asks for a fix; the scripted agent reads the config, proposes 640,
applies the change once the supervisor says it was approved, and requeues.
Here: the training repo's contents, the job on the local scheduler, reading
what the model received as a real model would, and that agent. Each chat's
test gives it its own words and the approval notice it waits for.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcp_servers.aiqu.backends.base import Job, JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from tests.fakes.model import ModelRequest, Reply, ScriptedModel

REPO, CONFIG = "training", "configs/train.yaml"
TRAIN_YAML = "model: yolov8s\nimage_size: 1280\nbatch: 16\nepochs: 100\nlr: 0.01\n"
OOM_JOB = "cust-b/pcb-oom"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 88, in <module>\n'
    "    loss.backward()\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB"
)
HEADER = re.compile(r"\[turn_id=([0-9a-f]{32}) conversation=(\S+) ")
PROPOSAL_ID = re.compile(r"\bP[0-9a-f]{10}\b")


# -- the job, on the service's local scheduler ------------------------------------------


def submit(state: Path, name: str, code: str) -> Job:
    """A person's job on the service's local scheduler (the aiqu skill sees the same state)."""
    with LocalScheduler(state, 2) as local:
        spec = JobSpec(
            name=name, command=[sys.executable, "-c", code], labels={"submitted_by": "ann"}
        )
        return local.submit(spec)


def jobs_named(state: Path, name: str) -> list[Job]:
    with LocalScheduler(state, 2) as local:
        return sorted((j for j in local.list() if j.name == name), key=lambda j: j.attempt)


# -- reading what the model received, as a real model would ----------------------------


def turn_id_of(request: ModelRequest) -> str:
    match = HEADER.search(request.last_user_text)
    assert match, f"no turn header in {request.last_user_text[:200]!r}"
    return match.group(1)


def last_tool(request: ModelRequest) -> tuple[str, str] | None:
    """(tool name, result text) when the request continues after a tool call, else None."""
    messages = request.messages
    if not messages or messages[-1]["role"] != "tool":
        return None
    calls = next(m["tool_calls"] for m in reversed(messages) if m.get("tool_calls"))
    content = messages[-1].get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    return calls[-1]["function"]["name"], text


def tool_results(model: ScriptedModel, name: str) -> list[str]:
    seen = (last_tool(r) for r in model.requests)
    return [text for tool in seen if tool and tool[0] == name for text in [tool[1]]]


def propose(turn_id: str, old: str, new: str, why: str) -> Reply:
    return Reply.tool_calls(
        (
            "git_propose_change",
            {
                "turn_id": turn_id,
                "repo": REPO,
                "path": CONFIG,
                "replace": {"old": old, "new": new},
                "commit_message": f"Set {new}",
                "reason": why,
            },
        )
    )


def apply(turn_id: str, proposal_id: str) -> Reply:
    return Reply.tool_calls(("git_apply_change", {"turn_id": turn_id, "proposal_id": proposal_id}))


# -- the agent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """What the agent says at each step, in one chat's idiom."""

    crashed: str
    proposed: str
    # Formatted with commit (8 hex digits), job and attempt.
    done: str = "Done: committed {commit} and requeued {job} (attempt {attempt})."


def fixing_agent(
    model: ScriptedModel, job: str, approved: re.Pattern[str], words: Words
) -> Callable[[ModelRequest], Reply]:
    """The agent of the story: `approved` finds the proposal id in the supervisor's notice."""

    def agent(request: ModelRequest) -> Reply:
        text, turn_id, tool = request.last_user_text, turn_id_of(request), last_tool(request)
        if tool is None:
            if "event crashed" in text:
                return Reply.text(words.crashed)
            if "fix the image size and requeue" in text:
                return Reply.tool_calls(("git_read_file", {"repo": REPO, "path": CONFIG}))
            if notice := approved.search(text):
                return apply(turn_id, notice.group(1))
            return Reply.text("<silent/>")
        name, result = tool
        if name == "git_read_file":
            current = re.search(r"image_size: \d+", result)
            assert current, result
            return propose(turn_id, current.group(0), "image_size: 640", "CUDA OOM at 1280")
        if name == "git_propose_change":
            return Reply.text(words.proposed)
        if name == "git_apply_change":
            return Reply.tool_calls(("aiqu_requeue_job", {"job": job}))
        if name == "aiqu_requeue_job":
            commit = re.search(r"[0-9a-f]{40}", " ".join(tool_results(model, "git_apply_change")))
            attempt = re.search(r"attempt (\d+)", result)
            return Reply.text(
                words.done.format(
                    commit=commit.group(0)[:8] if commit else "?",
                    job=job,
                    attempt=attempt.group(1) if attempt else "?",
                )
            )
        return Reply.text(f"unexpected tool {name}")

    return agent
