"""The aiqu skill over stdio, as opencode runs it, on each scheduler: the agent starts, watches
and stops its own job, and only its own."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import mcp

from mcp_servers.aiqu.backends.base import Scheduler
from tests.conftest import ROOT

from .conftest import Backend, sh


async def call(client: mcp.Client, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def test_agent_starts_watches_and_stops_its_own_job_only(
    backend: Backend, scheduler: Scheduler
) -> None:
    # A person's training job, on the state dir the skill will use, to clone from.
    base = scheduler.submit(
        sh('echo "$MLOPS_JOB $MLOPS_ATTEMPT"; sleep 60', gpus=1, labels={"submitted_by": "ann"})
    )
    theirs = backend.submit_outside("bob-run", "sleep 60") if backend.submit_outside else None
    env = {"PATH": os.environ["PATH"], **backend.settings}
    server = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_servers", "aiqu"], env=env, cwd=str(ROOT)
    )
    with anyio.fail_after(180):
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
            refused = await client.call_tool("cancel_job", {"job": theirs}) if theirs else None
            stopped = await call(client, "cancel_job", job=job_id)

    assert [row["id"] for row in mine["jobs"]] == [job_id]
    assert tail["text"] == "team/agent-trial 1"
    assert overview["gpus_total"] == 2 and overview["gpus_used"] == 2
    assert stopped["job"]["state"] == "cancelled"
    if refused is not None:
        assert refused.is_error
        others = backend.expect.others
        assert f"submitted by {others}, not by the agent" in refused.content[0].text
        assert theirs is not None and scheduler.get(theirs).state.active
