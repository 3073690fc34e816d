"""The aiqu skill over stdio, as opencode runs it, with `MLOPS_SCHEDULER=slurm` on a real Slurm."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp
import pytest

from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from tests.slurm.cluster import SlurmCluster

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]


async def call(client: mcp.Client, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def test_agent_starts_watches_and_stops_its_own_slurm_job_only(
    scheduler: SlurmScheduler, slurm_cluster: SlurmCluster, state_dir: Path
) -> None:
    # A person's training job, on the state dir the skill will use, to clone from.
    base = scheduler.submit(
        JobSpec(
            name="customer-b/pcb-inspect-v2",
            command=["sh", "-c", 'echo "$MLOPS_JOB $MLOPS_ATTEMPT"; sleep 60'],
            gpus=1,
            labels={"submitted_by": "ann"},
        )
    )
    theirs = slurm_cluster.run(
        "sbatch", "--parsable", "--job-name=bob-run", "--output=/dev/null", "--wrap=sleep 60"
    )
    env = {
        "PATH": os.environ["PATH"],
        "MLOPS_STATE_DIR": str(state_dir),
        "MLOPS_SCHEDULER": "slurm",
        **slurm_cluster.env(),
    }
    server = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_servers.aiqu"], env=env, cwd=str(ROOT)
    )
    with anyio.fail_after(60):
        async with mcp.Client(server) as client:
            started = await call(client, "submit_job", from_job=base.id, name="team/agent-trial")
            job_id = started["job"]["id"]
            while (await call(client, "tail_logs", job=job_id))["state"] != "running":
                await anyio.sleep(0.2)
            overview = await call(client, "queue_overview")
            mine = await call(client, "list_jobs", label="submitted_by=agent")
            while not (await call(client, "tail_logs", job=job_id))["text"]:
                await anyio.sleep(0.2)
            tail = await call(client, "tail_logs", job=job_id)
            refused = await client.call_tool("cancel_job", {"job": theirs.stdout.strip()})
            stopped = await call(client, "cancel_job", job=job_id)

    assert [row["id"] for row in mine["jobs"]] == [job_id]
    assert tail["text"] == "team/agent-trial 1"
    assert overview["gpus_total"] == 2 and overview["gpus_used"] == 2
    assert refused.is_error
    assert "submitted by slurm:root, not by the agent" in refused.content[0].text
    assert scheduler.get(theirs.stdout.strip()).state.active
    assert stopped["job"]["state"] == "cancelled"
