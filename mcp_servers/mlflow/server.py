"""The MCP wiring of the mlflow skill: descriptions for the model, logic in the plain modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pydantic import Field

from mcp_servers.compact import CompactMCPServer
from mcp_servers.mlflow import plots, summary
from mcp_servers.mlflow import runs as run_tools
from mcp_servers.mlflow.models import Comparison, MetricSummary, Plot, RunDetail, SearchRunsResult

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
# A plot writes a new PNG for the chat; it changes nothing in MLflow.
WRITES_ATTACHMENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False
)

T = TypeVar("T")
MESSAGE_CHARS = 400


def answer(call: Callable[[], T]) -> T:
    """Run a tool; MLflow's own failures (server down, bad request) reach the model as text."""
    try:
        return call()
    except MlflowException as exc:
        raise ToolError(f"MLflow failed: {exc.message[:MESSAGE_CHARS]}") from None


# A parameter is described only where its name and type leave the model guessing.
RunRef = Annotated[str, Field(description="run id, or run or job name")]


def build_server(client: MlflowClient, attachments_dir: Path) -> MCPServer:
    server = CompactMCPServer("mlflow", instructions="Read-only MLflow runs and metrics.")

    @server.tool(annotations=READ_ONLY)
    def search_runs(
        job: Annotated[str | None, Field(description="job or run name")] = None,
        status: Annotated[str | None, Field(description="RUNNING, FINISHED, FAILED...")] = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        experiment: str | None = None,
        order_by_metric: str | None = None,
        order: Literal["asc", "desc"] = "asc",
        metrics: Annotated[list[str] | None, Field(description="to show")] = None,
        limit: Annotated[int, Field(description="1-100")] = 10,
    ) -> SearchRunsResult:
        """Find runs (exact matches), newest first unless ordered by a metric."""
        return answer(
            lambda: run_tools.search_runs(
                client,
                job,
                status,
                tags,
                params,
                experiment,
                order_by_metric,
                order,
                metrics,
                limit,
            )
        )

    @server.tool(annotations=READ_ONLY)
    def get_run(run: RunRef) -> RunDetail:
        """One run: params, metrics, tags, status, times."""
        return answer(lambda: run_tools.get_run(client, run))

    @server.tool(annotations=READ_ONLY)
    def metric_summary(
        run: RunRef,
        metric: str,
        goal: Annotated[Literal["min", "max"], Field(description="which is better")] = "min",
        window_steps: Annotated[int | None, Field(description="default: last 10%")] = None,
    ) -> MetricSummary:
        """A metric's first, last and best values, and its trend over a trailing window."""
        return answer(lambda: summary.metric_summary(client, run, metric, goal, window_steps))

    @server.tool(annotations=READ_ONLY)
    def compare_runs(
        runs: Annotated[list[str], Field(description="2-10 run ids or names")],
        metrics: list[str] | None = None,
    ) -> Comparison:
        """Runs side by side: params that differ, metrics."""
        return answer(lambda: run_tools.compare_runs(client, runs, metrics))

    @server.tool(annotations=WRITES_ATTACHMENT)
    def plot_metrics(
        runs: Annotated[list[str], Field(description="1-8 run ids or names")],
        metrics: Annotated[list[str], Field(description="1-4")],
        log_y: bool = False,
    ) -> Plot:
        """Plot metric curves to a PNG posted in the thread."""
        return answer(lambda: plots.plot_metrics(client, attachments_dir, runs, metrics, log_y))

    return server
