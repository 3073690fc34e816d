"""The sweep tools over MCP (in-process): described, annotated, and errors the model can read."""

from __future__ import annotations

from typing import Any

import mcp

from mcp_servers.aiqu.backends.base import Job
from mcp_servers.aiqu.server import build_server
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps.book import SweepBook

SWEEP_TOOLS = {
    "start_sweep": (False, False),
    "next_trial": (False, False),
    "report_trial": (False, False),  # also a running trial's progress
    "prune_trial": (False, True),
    "sweep_status": (True, False),
    "control_sweep": (False, False),
}
# Parameters whose name and type leave the model guessing: each must carry a description.
DESCRIBED = {
    "start_sweep": {"base_job", "objective", "space", "fixed_params", "first_trials"},
    "report_trial": {"value", "step"},
    "prune_trial": {"reason"},
    "control_sweep": {"note"},
}


async def test_sweep_tools_are_described_and_annotated(skill: AiquSkill, book: SweepBook) -> None:
    async with mcp.Client(build_server(skill)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert SWEEP_TOOLS.keys() <= listed.keys()
    for name, hints in SWEEP_TOOLS.items():
        tool = listed[name]
        assert tool.description, name
        assert tool.annotations is not None
        assert (tool.annotations.read_only_hint, tool.annotations.destructive_hint) == hints
        properties = tool.input_schema.get("properties", {})
        described = {param for param, prop in properties.items() if prop.get("description")}
        assert DESCRIBED.get(name, set()) <= described, name
        assert tool.output_schema is not None, name


async def test_a_sweep_through_mcp_and_a_refusal_as_tool_error(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    space: dict[str, Any] = {"lr": {"type": "float", "low": 0.001, "high": 1.0, "log": True}}
    async with mcp.Client(build_server(skill)) as client:
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


async def test_control_sweep_pauses_resumes_and_stops(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    space: dict[str, Any] = {"layers": {"type": "int", "low": 2, "high": 6}}
    args = {"sweep": "c1", "base_job": base_job.name, "objective": "val_loss"}
    async with mcp.Client(build_server(skill)) as client:
        started = await client.call_tool(
            "start_sweep",
            {**args, "direction": "minimize", "space": space, "max_trials": 3},
        )
        assert not started.is_error, started.content

        async def control(action: str, note: str | None = None) -> Any:
            result = await client.call_tool(
                "control_sweep", {"sweep": "c1", "action": action, "note": note}
            )
            assert not result.is_error, result.content
            assert result.structured_content is not None
            return result.structured_content

        paused = await control("pause", "asked by alice")
        refused_paused = await client.call_tool("next_trial", {"sweep": "c1"})
        resumed = await control("resume")
        trial = await client.call_tool("next_trial", {"sweep": "c1"})
        stopped = await control("stop")
        refused_stopped = await client.call_tool("next_trial", {"sweep": "c1"})
        unknown = await client.call_tool("control_sweep", {"sweep": "c1", "action": "restart"})
        after_unknown = await client.call_tool("sweep_status", {"sweep": "c1"})
    assert (paused["status"], paused["status_note"]) == ("paused", "asked by alice")
    assert refused_paused.is_error
    assert "c1 is paused (asked by alice); control_sweep action=resume" in str(
        refused_paused.content
    )
    assert resumed["status"] == "active"
    assert not trial.is_error, trial.content
    assert stopped["status"] == "stopped"
    assert refused_stopped.is_error and "c1 is stopped" in str(refused_stopped.content)
    # An action outside the three is refused with the valid ones, and changes nothing.
    assert unknown.is_error and "'pause', 'resume' or 'stop'" in str(unknown.content)
    assert after_unknown.structured_content is not None
    assert after_unknown.structured_content["result"]["status"] == "stopped"


async def test_compact_schemas_still_validate_what_they_no_longer_spell_out(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    async with mcp.Client(build_server(skill)) as client:
        schema = {t.name: t for t in (await client.list_tools()).tools}["start_sweep"].input_schema
        bad_space = await client.call_tool(
            "start_sweep",
            {
                "sweep": "v1",
                "base_job": base_job.name,
                "objective": "val_loss",
                "direction": "minimize",
                "space": {"lr": "between 1e-5 and 0.1"},
                "max_trials": 2,
            },
        )
        bad_fixed = await client.call_tool(
            "start_sweep",
            {
                "sweep": "v1",
                "base_job": base_job.name,
                "objective": "val_loss",
                "direction": "minimize",
                "space": {"lr": {"type": "float", "low": 1e-5, "high": 0.1}},
                "max_trials": 2,
                "fixed_params": {"epochs": [20]},
            },
        )
        listed = await client.call_tool("sweep_status", {})
    assert schema["properties"]["space"]["type"] == "object"
    # A map's value type is checked on every call, not read by the model on every turn.
    assert schema["properties"]["fixed_params"] == {
        "type": "object",
        "description": "same in every trial",
    }
    assert bad_space.is_error and "space" in str(bad_space.content)
    assert bad_fixed.is_error and "fixed_params" in str(bad_fixed.content)
    # Without a sweep id, sweep_status lists them all: neither call created one.
    assert listed.structured_content == {"result": {"sweeps": []}}


async def test_sweep_status_without_a_sweep_lists_every_sweep(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    space: dict[str, Any] = {"opt": {"type": "categorical", "choices": ["sgd", "adam"]}}
    async with mcp.Client(build_server(skill)) as client:
        for sweep in ("first", "second"):
            started = await client.call_tool(
                "start_sweep",
                {
                    "sweep": sweep,
                    "base_job": base_job.name,
                    "objective": "acc",
                    "direction": "maximize",
                    "space": space,
                    "max_trials": 2,
                },
            )
            assert not started.is_error, started.content
        listed = await client.call_tool("sweep_status", {})
        one = await client.call_tool("sweep_status", {"sweep": "first"})
    assert not listed.is_error and listed.structured_content is not None
    rows = listed.structured_content["result"]["sweeps"]
    assert [(r["sweep"], r["status"], r["objective"]) for r in rows] == [
        ("second", "active", "maximize acc"),
        ("first", "active", "maximize acc"),
    ]
    # The model reads the text: the list itself, not wrapped.
    assert '"sweeps"' in str(listed.content) and '"result"' not in str(listed.content)
    assert one.structured_content is not None
    assert one.structured_content["result"]["sweep"] == "first"
