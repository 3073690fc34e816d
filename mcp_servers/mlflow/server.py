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


RunRef = Annotated[
    str,
    Field(
        description="run ID, run name, or job name (e.g. 'customer-b/pcb-inspect-v2'); "
        "a name means its most recent run"
    ),
]
RunRefs = Annotated[list[RunRef], Field(description="run IDs, run names or job names")]


def build_server(client: MlflowClient, attachments_dir: Path) -> MCPServer:
    server = CompactMCPServer(
        "mlflow",
        instructions="Read-only access to MLflow runs and metrics: find runs, summarise "
        "metric histories, compare runs, plot curves.",
    )

    @server.tool(annotations=READ_ONLY)
    def search_runs(
        job: Annotated[
            str | None, Field(description="job name (mlops.job tag) or run name, exact")
        ] = None,
        status: Annotated[
            str | None,
            Field(description="RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"),
        ] = None,
        tags: Annotated[
            dict[str, str] | None, Field(description="tags that must match exactly")
        ] = None,
        params: Annotated[
            dict[str, str] | None,
            Field(description='params that must match exactly, e.g. {"lr": "0.001"}'),
        ] = None,
        experiment: Annotated[
            str | None, Field(description="experiment name; default all experiments")
        ] = None,
        order_by_metric: Annotated[
            str | None, Field(description="sort by this metric's latest value, e.g. 'val_loss'")
        ] = None,
        order: Annotated[
            Literal["asc", "desc"],
            Field(description="with order_by_metric: 'asc' lowest first, 'desc' highest first"),
        ] = "asc",
        metrics: Annotated[
            list[str] | None, Field(description="latest metric values to show in each row")
        ] = None,
        limit: Annotated[int, Field(description="rows to return, 1-100")] = 10,
    ) -> SearchRunsResult:
        """Find MLflow runs across experiments; newest first unless ordered by a metric."""
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
        """One run: params, latest metric values, user tags, status, start/end and duration."""
        return answer(lambda: run_tools.get_run(client, run))

    @server.tool(annotations=READ_ONLY)
    def metric_summary(
        run: RunRef,
        metric: Annotated[str, Field(description="metric name, e.g. 'val_loss'")],
        goal: Annotated[
            Literal["min", "max"],
            Field(description="which direction is better: 'min' (loss, error), 'max' (accuracy)"),
        ] = "min",
        window_steps: Annotated[
            int | None,
            Field(
                description="trailing window in steps for change and plateau; "
                "default the last 10% of the logged steps"
            ),
        ] = None,
    ) -> MetricSummary:
        """Summarise a metric's whole history in a few numbers: first, last, best and its
        step, change over the trailing window, and whether the best improved inside the
        window (plateau check). Cheap on long histories."""
        return answer(lambda: summary.metric_summary(client, run, metric, goal, window_steps))

    @server.tool(annotations=READ_ONLY)
    def compare_runs(
        runs: Annotated[list[RunRef], Field(description="2-10 runs")],
        metrics: Annotated[
            list[str] | None, Field(description="metrics to show; default up to 12 logged ones")
        ] = None,
    ) -> Comparison:
        """Compare runs side by side: only the params that differ, and latest metric values."""
        return answer(lambda: run_tools.compare_runs(client, runs, metrics))

    @server.tool(annotations=WRITES_ATTACHMENT)
    def plot_metrics(
        runs: Annotated[list[RunRef], Field(description="1-8 runs, one line each")],
        metrics: Annotated[list[str], Field(description="1-4 metrics, one panel each")],
        log_y: Annotated[bool, Field(description="logarithmic y axis")] = False,
    ) -> Plot:
        """Plot metric curves (value per step) to a PNG that is posted to the chat thread."""
        return answer(lambda: plots.plot_metrics(client, attachments_dir, runs, metrics, log_y))

    return server
