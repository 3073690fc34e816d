"""Issue 3, "the agent uses them": the scripted model calls aiqu_*, mlflow_* and datasets_*
tools through the real opencode, the real skills run against real backends (a local
scheduler with real processes, a real `mlflow server`, a dataset tree on disk), and the
reply that reaches Slack is built from what the tools returned.

The model's final text is composed by the test's handler *from the tool result the
model received*: an assertion on Slack can only pass if the data made the whole trip
scheduler/MLflow/disk -> MCP skill -> opencode -> model -> opencode -> service -> Slack.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from agent.service import Service
from agent.service.mlflow_server import MlflowServer
from mcp_servers.aiqu.backends.local import LocalScheduler
from tests.datasets.tree import build_tree
from tests.e2e.harness import ALICE, service_settings, serving, turns
from tests.e2e.skills_fixtures import (
    LoggedRun,
    OneToolCall,
    log_runs,
    stop_jobs,
    submit_sleep_jobs,
    tool_json,
    tool_text,
)
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack, Post

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

DM = "DALICE"
JOB_NAMES = ["cust-s/pcb-yolo-a", "cust-s/pcb-yolo-b"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPLY_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def mlflow_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, LoggedRun]]]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server.uri, log_runs(server.uri)


@pytest.fixture(scope="module")
def datasets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def running_jobs(state: Path) -> Iterator[list[str]]:
    """Two jobs a person submitted, running in the scheduler state the skill reads."""
    scheduler = LocalScheduler(state, 2, poll_interval_s=0.1)
    ids: list[str] = []
    try:
        ids = submit_sleep_jobs(scheduler, JOB_NAMES, person=ALICE)
        yield ids
    finally:
        stop_jobs(scheduler, ids)
        scheduler.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    state: Path,
    mlflow_runs: tuple[str, dict[str, LoggedRun]],
    datasets_root: Path,
    running_jobs: list[str],
    model: ScriptedModel,
    slack: FakeSlack,
) -> AsyncIterator[Service]:
    settings = service_settings(
        state,
        model.base_url,
        slack.api_url,
        mlflow_tracking_uri=mlflow_runs[0],
        datasets_root=datasets_root,
        local_gpus=2,
    )
    async with serving(settings, slack) as svc:
        yield svc


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


async def ask(slack: FakeSlack, text: str) -> str:
    """ALICE asks in a DM; each top-level DM is its own conversation, answered in its thread."""
    return await slack.send_message(ALICE, text, channel=DM)


async def reply_in(slack: FakeSlack, thread: str, kind: str = "post") -> Post:
    return await slack.wait_for_post(
        lambda p: p.kind == kind and p.channel == DM and p.thread_ts == thread,
        timeout=REPLY_TIMEOUT_S,
    )


async def test_whats_running_lists_the_real_jobs(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    def render(result: dict[str, Any]) -> str:
        rows = tool_json(result)["jobs"]
        return "Running now: " + "; ".join(
            f"{j['name']} ({j['state']}, {j['gpus']} GPU, by {j['submitted_by']})" for j in rows
        )

    script = OneToolCall.of("aiqu_list_jobs", {"state": "active"}, render)
    model.handler = script
    thread = await ask(slack, "what's running?")
    reply = await reply_in(slack, thread)

    assert reply.text.startswith("Running now: ")
    for name in JOB_NAMES:
        assert f"{name} (running, 1 GPU, by {ALICE})" in reply.text
    assert len(script.results) == 1 and len(model.requests) == 2
    # The model read its turn id from the supervisor's header: the one the service recorded.
    assert script.turn_ids == [
        t["turn_id"] for t in turns(service.state_dir) if thread in t["conversation"]
    ]
    print(
        f"\n[figure] aiqu_list_jobs through opencode (model asks -> result at model):"
        f" {script.timings[0] * 1000:.0f} ms"
    )
    part = await tool_part_timing(service, model.requests[-1].headers["x-session-id"])
    if part is not None:
        print(f"[figure] aiqu_list_jobs tool part (opencode state.time): {part:.0f} ms")


async def test_val_loss_curve_is_uploaded_as_png_into_the_thread(
    service: Service,
    model: ScriptedModel,
    slack: FakeSlack,
    mlflow_runs: tuple[str, dict[str, LoggedRun]],
) -> None:
    run = mlflow_runs[1]["yolo-lr-3e-3"]

    def render(result: dict[str, Any]) -> str:
        plot = tool_json(result)
        return f"val_loss of {', '.join(plot['runs'])}: {plot['points']} points, curve attached"

    model.handler = OneToolCall.of(
        "mlflow_plot_metrics", {"runs": [run.job], "metrics": ["val_loss"]}, render
    )
    thread = await ask(slack, f"show me the val_loss curve of {run.job}")
    text = await reply_in(slack, thread)
    upload = await reply_in(slack, thread, kind="upload")

    assert text.text == f"val_loss of {run.run_name}: {len(run.values)} points, curve attached"
    assert upload.file_bytes is not None and upload.file_bytes.startswith(PNG_SIGNATURE)
    assert upload.file_name is not None and upload.file_name.endswith(".png")
    assert len(upload.file_bytes) > 5_000  # a drawn figure, not an empty canvas
    order = [p.kind for p in slack.posts(DM) if p.thread_ts == thread]
    print(f"\n[observed] order in the thread: {order}")


async def test_dataset_diff_numbers_reach_the_reply(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    def render(result: dict[str, Any]) -> str:
        d = tool_json(result)
        biggest = d["class_balance"][0]
        return (
            f"{d['dataset']} {d['old_version']} to {d['new_version']}:"
            f" {d['old_images']} to {d['new_images']} images, +{d['added']['count']}"
            f" -{d['removed']['count']}, {d['relabelled']['count']} relabelled;"
            f" biggest class change {biggest['name']} {biggest['change']:+d}"
        )

    model.handler = OneToolCall.of(
        "datasets_diff_versions",
        {"dataset": "pcb", "old_version": "v1", "new_version": "v2"},
        render,
    )
    thread = await ask(slack, "what changed in dataset pcb between v1 and v2?")
    reply = await reply_in(slack, thread)

    # The tree's v2 adds e, f, g, drops d and relabels a (tests/datasets/tree.py).
    assert reply.text.startswith("pcb v1 to v2: 4 to 6 images, +3 -1, 1 relabelled;")
    assert reply.text.endswith("biggest class change missing_part +3")


async def test_metric_summary_best_and_last_reach_the_reply(
    service: Service,
    model: ScriptedModel,
    slack: FakeSlack,
    mlflow_runs: tuple[str, dict[str, LoggedRun]],
) -> None:
    run = mlflow_runs[1]["yolo-lr-3e-3"]

    def render(result: dict[str, Any]) -> str:
        s = tool_json(result)
        return (
            f"{s['run_name']} {s['metric']}: best {s['best']['value']} at step"
            f" {s['best']['step']}, last {s['last']['value']} at step {s['last']['step']},"
            f" {s['points']} points"
        )

    model.handler = OneToolCall.of(
        "mlflow_metric_summary", {"run": run.run_name, "metric": "val_loss"}, render
    )
    thread = await ask(slack, f"how is val_loss of {run.run_name} doing?")
    reply = await reply_in(slack, thread)

    (best_step, best), (last_step, last) = run.best, run.last
    assert (best_step, best) == (200, 0.5)  # the curve overfits after step 200
    assert reply.text == (
        f"{run.run_name} val_loss: best {best:.6g} at step {best_step},"
        f" last {last:.6g} at step {last_step}, {len(run.values)} points"
    )


async def test_unknown_job_comes_back_as_an_error_naming_valid_jobs(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    script = OneToolCall.of(
        "aiqu_tail_logs",
        {"job": "cust-s/no-such-job"},
        lambda result: "I could not find it: " + tool_text(result)[:300],
    )
    model.handler = script
    thread = await ask(slack, "how is cust-s/no-such-job doing?")
    reply = await reply_in(slack, thread)

    error = tool_text(script.results[0])
    print(f"\n[observed] the model received: {error[:160]!r}")
    assert "no job with id or name 'cust-s/no-such-job'" in error
    for name in JOB_NAMES:  # what would be valid: the jobs that exist
        assert name in error
    assert reply.text.startswith("I could not find it: ")
    with pytest.raises(ValueError):
        json.loads(error)  # an error text, not a result the model could mistake for data


async def test_tool_schemas_of_all_three_skills_reach_the_model(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.handler = OneToolCall.of("aiqu_queue_overview", {}, lambda r: "ok " + tool_text(r)[:50])
    thread = await ask(slack, "how busy are the GPUs?")
    await reply_in(slack, thread)

    tools = model.requests[0].raw["tools"]
    names = {t["function"]["name"] for t in tools}
    assert {"aiqu_list_jobs", "mlflow_plot_metrics", "datasets_diff_versions"} <= names
    size = len(json.dumps(tools))
    per_skill = {
        prefix: len(json.dumps([t for t in tools if t["function"]["name"].startswith(prefix)]))
        for prefix in ("aiqu_", "mlflow_", "datasets_")
    }
    print(
        f"\n[figure] tool schemas the model receives: {len(tools)} tools, {size} chars {per_skill}"
    )


async def tool_part_timing(service: Service, session_id: str) -> float | None:
    """Milliseconds opencode records for the session's tool part (state.time end - start).

    Read from opencode's own API with the service's credentials: informational only.
    """
    process = service.runtime._process  # the test reads opencode's URL and password
    async with httpx.AsyncClient(auth=("opencode", process.password), timeout=10) as http:
        response = await http.get(f"{process.url}/session/{session_id}/message")
    for message in response.json():
        for part in message["parts"]:
            times = part.get("state", {}).get("time", {}) if part["type"] == "tool" else {}
            if "start" in times and "end" in times:
                return float(times["end"] - times["start"])
    return None
