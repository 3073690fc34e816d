"""The sweep tools over MCP (in-process): described, annotated, and errors the model can read."""

from __future__ import annotations

from typing import Any

import mcp

from mcp_servers.aiqu.backend import Job
from mcp_servers.aiqu.server import build_server
from mcp_servers.aiqu.sweeps import SweepBook
from mcp_servers.aiqu.tools import AiquSkill

SWEEP_TOOLS = {
    "start_sweep": (False, False),
    "next_trial": (False, False),
    "report_trial": (False, False),
    "report_progress": (False, False),
    "prune_trial": (False, True),
    "sweep_status": (True, False),
    "list_sweeps": (True, False),
    "pause_sweep": (False, False),
    "resume_sweep": (False, False),
    "stop_sweep": (False, False),
}


async def test_sweep_tools_are_described_and_annotated(skill: AiquSkill, book: SweepBook) -> None:
    async with mcp.Client(build_server(skill, sweeps=book)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert SWEEP_TOOLS.keys() <= listed.keys()
    for name, hints in SWEEP_TOOLS.items():
        tool = listed[name]
        assert tool.description and len(tool.description) > 40, name
        assert tool.annotations is not None
        assert (tool.annotations.read_only_hint, tool.annotations.destructive_hint) == hints
        for param, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{param} has no description"
        assert tool.output_schema is not None, name


async def test_a_sweep_through_mcp_and_a_refusal_as_tool_error(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    space: dict[str, Any] = {"lr": {"type": "float", "low": 0.001, "high": 1.0, "log": True}}
    async with mcp.Client(build_server(skill, sweeps=book)) as client:
        started = await client.call_tool(
            "start_sweep",
            {
                "sweep": "m1",
                "base_job": base_job.name,
                "objective": "val_loss",
                "direction": "minimize",
                "space": space,
                "max_trials": 1,
                "max_parallel": 1,
                "trial_time_limit_min": 5,
            },
        )
        assert not started.is_error, started.content
        assert started.structured_content is not None
        assert started.structured_content["status"] == "active"
        trial = await client.call_tool("next_trial", {"sweep": "m1"})
        assert not trial.is_error and trial.structured_content is not None
        assert trial.structured_content["job_name"] == "m1/trial-0"
        refused = await client.call_tool("next_trial", {"sweep": "m1"})
        bad = await client.call_tool("sweep_status", {"sweep": "nope"})
    assert refused.is_error and "1 of 1 trials allowed" in str(refused.content)
    assert bad.is_error and "no sweep 'nope'; sweeps: m1 (active)" in str(bad.content)
