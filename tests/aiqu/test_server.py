"""The aiqu MCP server, in-process with mcp.Client and over stdio as opencode runs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp

from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.server import build_server
from mcp_servers.aiqu.skill import AiquSkill

from .conftest import kill_leftovers, py, spec, wait_state

FOREVER = "import time; time.sleep(120)"
REPORT_ENV = "import os; print(os.environ.get('MLFLOW_TRACKING_URI'), os.environ['MLOPS_JOB'])"
TOOLS = {
    "list_jobs": (True, False),
    "tail_logs": (True, False),  # also what get_job says (one schema fewer on every turn)
    "queue_overview": (True, False),
    "submit_job": (False, False),
    "requeue_job": (False, False),
    "cancel_job": (False, True),
    # The sweep tools, exercised in tests/sweeps/test_sweep_server.py.
    "start_sweep": (False, False),
    "next_trial": (False, False),
    "report_trial": (False, False),  # also a running trial's progress
    "prune_trial": (False, True),
    "sweep_status": (True, False),
    "control_sweep": (False, False),
}
# Parameters whose name and type leave the model guessing: each must carry a description.
# (An unknown job is refused with the recent ones; turn_id's is the brief's to say once.)
DESCRIBED = {
    "list_jobs": {"state", "label"},
    "submit_job": {"params"},
}


async def call(client: mcp.Client, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def test_every_tool_is_described_and_annotated(skill: AiquSkill):
    async with mcp.Client(build_server(skill)) as client:
        listed = (await client.list_tools()).tools
    assert {t.name: t for t in listed}.keys() == TOOLS.keys()
    for tool in listed:
        assert tool.description, tool.name
        assert tool.annotations is not None
        hints = (tool.annotations.read_only_hint, tool.annotations.destructive_hint)
        assert hints == TOOLS[tool.name], tool.name
        properties = tool.input_schema.get("properties", {})
        described = {name for name, prop in properties.items() if prop.get("description")}
        assert DESCRIBED.get(tool.name, set()) <= described, tool.name
        assert tool.output_schema is not None, tool.name


async def test_submit_job_offers_no_way_to_write_a_command(skill: AiquSkill):
    async with mcp.Client(build_server(skill)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        source = skill.scheduler.submit(spec("team/a", FOREVER, labels={"submitted_by": "ann"}))
        # An extra argument is not a way in either: it is dropped, the clone runs unchanged.
        result = await call(client, "submit_job", from_job=source.id, command=["sh", "-c", "id"])
    assert set(tools["submit_job"].input_schema["properties"]) == {
        "from_job",
        "name",
        "params",
        "gpus",
        "time_limit_min",
        "labels",
        "turn_id",
    }
    assert result["job"]["command"] == source.spec.command  # type: ignore[union-attr]


async def test_reads_list_filter_get_and_tail(skill: AiquSkill):
    people = skill.scheduler.submit(
        spec("cust/pcb-v2", "print('epoch 1')\nprint('epoch 2')", labels={"submitted_by": "ann"})
    )
    wait_state(skill.scheduler, people.id, "succeeded")
    async with mcp.Client(build_server(skill)) as client:
        own = await call(
            client,
            "submit_job",
            from_job="cust/pcb-v2",
            name="cust/pcb-v3",
            params={"lr": 0.01, "epochs": 20},
            labels={"trial": "7"},
        )
        wait_state(skill.scheduler, own["job"]["id"], "succeeded")

        everything = await call(client, "list_jobs")
        by_label = await call(client, "list_jobs", label="trial=7")
        by_name = await call(client, "list_jobs", name="V2")
        failed = await call(client, "list_jobs", state="failed")
        detail = await call(client, "tail_logs", job="cust/pcb-v3")
        tail = await call(client, "tail_logs", job=people.id, lines=1)

    assert [r["name"] for r in everything["jobs"]] == ["cust/pcb-v3", "cust/pcb-v2"]
    assert everything["jobs"][1] == {
        "id": people.id,
        "name": "cust/pcb-v2",
        "attempt": 1,
        "state": "succeeded",
        "gpus": 0,
        "queue": "local",
        "submitted_by": "ann",
        "reason": None,
        "runtime_min": everything["jobs"][1]["runtime_min"],
    }
    assert [r["name"] for r in by_label["jobs"]] == ["cust/pcb-v3"]
    assert [r["name"] for r in by_name["jobs"]] == ["cust/pcb-v2"]
    assert failed == {"matching": 0, "shown": 0, "jobs": []}
    assert detail["labels"]["submitted_by"] == "agent"
    # The schema says only "number"; validation still keeps 20 an int, not 20.0.
    assert detail["command"][-2:] == ["--lr=0.01", "--epochs=20"]
    assert (tail["text"], tail["lines"]) == ("epoch 2", 1)


async def test_queue_overview_counts_gpus_and_budget(skill: AiquSkill):
    for _ in range(3):
        skill.scheduler.submit(spec("team/a", FOREVER, gpus=1, labels={"submitted_by": "ann"}))
    async with mcp.Client(build_server(skill)) as client:
        await call(client, "submit_job", from_job="team/a", gpus=0, time_limit_min=30)
        overview = await call(client, "queue_overview")
    assert overview == {
        "gpus_total": 2,
        "gpus_used": 2,
        "gpus_free": 0,
        "running": 2,
        "pending": 2,
        "queues": [{"queue": "local", "running": 2, "pending": 2, "gpus_used": 2}],
        "agent_budget": {
            "active_jobs": 1,
            "max_jobs": 2,
            "gpu_hours_24h": 0.0,
            "max_gpu_hours_24h": 8.0,
        },
    }


async def test_refusals_reach_the_model_as_tool_errors(skill: AiquSkill):
    job = skill.scheduler.submit(spec("team/a", FOREVER, labels={"submitted_by": "ann"}))
    async with mcp.Client(build_server(skill)) as client:
        refused = await client.call_tool("cancel_job", {"job": job.id})
        unknown = await client.call_tool("tail_logs", {"job": "no-such-job"})
        bad_filter = await client.call_tool("list_jobs", {"label": "submitted_by"})
    assert refused.is_error and "needs a human's confirmation" in refused.content[0].text
    assert unknown.is_error and "recent jobs: team/a (id 1)" in unknown.content[0].text
    assert (
        bad_filter.is_error and "key=value, e.g. submitted_by=agent" in bad_filter.content[0].text
    )


async def test_log_tail_is_bounded(skill: AiquSkill):
    noisy = skill.scheduler.submit(spec("team/noisy", "for i in range(300): print('x' * 100)"))
    wait_state(skill.scheduler, noisy.id, "succeeded")
    async with mcp.Client(build_server(skill)) as client:
        too_many = await client.call_tool("tail_logs", {"job": noisy.id, "lines": 5000})
        tail = await call(client, "tail_logs", job=noisy.id, lines=200)
    assert too_many.is_error
    assert len(tail["text"]) <= 8000 and tail["truncated"]


async def test_over_stdio_as_opencode_runs_it(state_dir: Path):
    # A person's job, submitted outside the skill, on the state dir the skill will use.
    with LocalScheduler(state_dir, 1) as local:
        base = local.submit(
            JobSpec(name="team/base", command=py(REPORT_ENV), labels={"submitted_by": "ann"})
        )
    env = {
        "PATH": os.environ["PATH"],
        "MLOPS_STATE_DIR": str(state_dir),
        "MLOPS_LOCAL_GPUS": "1",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
    }
    params = mcp.StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_servers", "aiqu"],
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        with anyio.fail_after(60):
            async with mcp.Client(params) as client:
                submitted = await call(client, "submit_job", from_job=base.id, name="team/agent-1")
                job_id = submitted["job"]["id"]
                while (await call(client, "tail_logs", job=job_id))["state"] != "succeeded":
                    await anyio.sleep(0.1)
                listed = await call(client, "list_jobs", label="submitted_by=agent")
                tail = await call(client, "tail_logs", job=job_id)
    finally:
        kill_leftovers(state_dir)
    assert [r["id"] for r in listed["jobs"]] == [job_id]
    # The skill's own MLFLOW_TRACKING_URI reached the job, under the job's own name.
    assert tail["text"] == "http://127.0.0.1:5999 team/agent-1"
