"""The skill as the model sees it: in-process over MCP, and once over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mcp
import pytest
from mcp.server.mcpserver import MCPServer
from mlflow import MlflowClient

from agent.service.mlflow_server import MlflowServer
from mcp_servers.mlflow.server import build_server
from mcp_servers.mlflow.skill import MlflowSkill
from tests.conftest import ROOT, free_port
from tests.mlflow.conftest import LONG_STEPS

# get_run is compare_runs of one run (one schema fewer on every turn).
TOOLS = {"search_runs", "metric_summary", "compare_runs", "plot_metrics"}
# Parameters whose name and type leave the model guessing: each must carry a description.
# (A wrong count of runs or metrics is refused with the limits.)
DESCRIBED = {
    "search_runs": {"status", "metrics"},
    "metric_summary": {"run", "goal"},
    "compare_runs": {"runs"},
    "plot_metrics": {"runs"},
}


def skill(client: MlflowClient, tmp_path: Path) -> MCPServer:
    return build_server(MlflowSkill(client, tmp_path / "attachments"))


async def test_every_tool_is_described_and_annotated(client: MlflowClient, tmp_path: Path) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description, tool.name
        assert tool.annotations is not None and tool.annotations.destructive_hint is False
        assert tool.output_schema is not None, tool.name
        properties = tool.input_schema["properties"]
        described = {name for name, prop in properties.items() if prop.get("description")}
        assert DESCRIBED[tool.name] <= described, tool.name
    read_only = {n for n, t in tools.items() if t.annotations.read_only_hint}  # type: ignore[union-attr]
    assert read_only == TOOLS - {"plot_metrics"}  # a plot writes a PNG, nothing in MLflow


async def test_search_runs_over_mcp(client: MlflowClient, tmp_path: Path) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        result = await c.call_tool(
            "search_runs", {"job": "customer-b/pcb-inspect-v2", "metrics": ["val_loss"]}
        )
    assert not result.is_error
    runs = result.structured_content["runs"]  # type: ignore[index]
    assert [r["run_name"] for r in runs] == ["pcb-lr-1e-2", "pcb-lr-1e-3"]
    assert runs[1]["metrics"] == {"val_loss": 0.2}


async def test_one_run_in_full_over_mcp(client: MlflowClient, tmp_path: Path) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        result = await c.call_tool("compare_runs", {"runs": ["seg-diverged"]})
    # Two shapes from one tool: MCP wraps the structured content; the text is the object.
    run = result.structured_content["result"]  # type: ignore[index]
    assert run["status"] == "FAILED"
    assert run["params"] == {"lr": "0.5"}


async def test_metric_summary_over_mcp(client: MlflowClient, tmp_path: Path) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        result = await c.call_tool("metric_summary", {"run": "seg-long", "metric": "train_loss"})
    summary = result.structured_content
    assert summary["points"] == LONG_STEPS  # type: ignore[index]
    assert summary["best"]["step"] == LONG_STEPS - 1  # type: ignore[index]
    # A handful of numbers, never the history: the whole result stays small.
    assert len(result.content[0].text) < 1000  # type: ignore[union-attr]


async def test_compare_runs_over_mcp(client: MlflowClient, tmp_path: Path) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        result = await c.call_tool("compare_runs", {"runs": ["pcb-lr-1e-3", "pcb-lr-1e-2"]})
    compared = result.structured_content["result"]  # type: ignore[index]
    assert compared["params_differing"] == {"lr": ["0.001", "0.01"]}


async def test_plot_metrics_over_mcp_returns_attachment_path(
    client: MlflowClient, tmp_path: Path
) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        result = await c.call_tool(
            "plot_metrics", {"runs": ["customer-b/pcb-inspect-v2"], "metrics": ["val_loss"]}
        )
    path = Path(result.structured_content["attachment_path"])  # type: ignore[index]
    assert path.parent == tmp_path / "attachments"
    assert path.read_bytes()[:4] == b"\x89PNG"


async def test_errors_reach_the_model_with_what_is_valid(
    client: MlflowClient, tmp_path: Path
) -> None:
    async with mcp.Client(skill(client, tmp_path)) as c:
        result = await c.call_tool("metric_summary", {"run": "pcb-lr-1e-3", "metric": "val_los"})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert (
        "metric 'val_los' not logged in run pcb-lr-1e-3; metrics: train_loss, val_acc, val_loss"
        in text
    )


async def test_stdio_server_reads_its_env_and_keeps_stdout_clean(
    mlflow_server: MlflowServer, logged_runs: dict[str, str], tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
        "MLOPS_STATE_DIR": str(tmp_path / "state"),
    }
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_servers", "mlflow"], env=env, cwd=str(ROOT)
    )
    async with mcp.Client(params, read_timeout_seconds=60) as c:
        summary = await c.call_tool(
            "metric_summary", {"run": logged_runs["pcb-lr-1e-3"], "metric": "val_loss"}
        )
        plot = await c.call_tool("plot_metrics", {"runs": ["seg-long"], "metrics": ["train_loss"]})
    assert summary.structured_content["best"] == {"step": 16, "value": 0.2}  # type: ignore[index]
    # The attachments folder defaults to $MLOPS_STATE_DIR/attachments.
    path = Path(plot.structured_content["attachment_path"])  # type: ignore[index]
    assert path.parent == tmp_path / "state" / "attachments" and path.stat().st_size > 0


async def test_mlflow_unreachable_is_a_clear_tool_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{free_port()}"
    async with mcp.Client(build_server(MlflowSkill(MlflowClient(uri), tmp_path))) as c:
        result = await c.call_tool("search_runs", {})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert f"MLflow failed: API request to {uri}/api/2.0/mlflow/experiments/search failed" in text
