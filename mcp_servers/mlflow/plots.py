"""Metric curves as a PNG the chat bridge uploads: a person reads a curve faster than numbers."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from mcp_servers.mlflow.errors import MlflowSkillError
from mcp_servers.mlflow.lookup import resolve_run
from mcp_servers.mlflow.models import Plot
from mcp_servers.mlflow.skill import MlflowSkill
from mcp_servers.mlflow.summary import history

MAX_RUNS = 8
MAX_METRICS = 4


def plot_metrics(
    skill: MlflowSkill,
    runs: Annotated[list[str], Field(description="run ids or names")],
    metrics: list[str],
    log_y: bool = False,
) -> Plot:
    """Plot metric curves; the PNG is posted in the thread."""
    # One panel per metric, one line per run, x = step; written to the attachments folder.
    # Imported on the first plot: matplotlib is ~45 MiB the skill needs only for plots.
    # The object API with the Agg canvas: no pyplot global state, safe in worker threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    client, attachments_dir = skill.client, skill.attachments_dir
    if not 1 <= len(runs) <= MAX_RUNS:
        raise MlflowSkillError(f"give 1..{MAX_RUNS} runs to plot, got {len(runs)}")
    if not 1 <= len(metrics) <= MAX_METRICS:
        raise MlflowSkillError(f"give 1..{MAX_METRICS} metrics to plot, got {len(metrics)}")
    found = [resolve_run(client, r) for r in runs]
    for metric in metrics:
        if not any(metric in r.data.metrics for r in found):
            logged = ", ".join(sorted(set().union(*(r.data.metrics for r in found))))
            where = "any of these runs" if len(found) > 1 else f"run {found[0].info.run_name}"
            raise MlflowSkillError(f"metric {metric!r} not logged in {where}; metrics: {logged}")

    figure = Figure(figsize=(8, 2.8 * len(metrics)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    points = 0
    for i, metric in enumerate(metrics):
        axes = figure.add_subplot(len(metrics), 1, i + 1)
        for run in found:
            if metric not in run.data.metrics:
                continue
            steps, values = history(client, run, metric)
            axes.plot(steps, values, linewidth=1.2, label=run.info.run_name)
            points += int(values.size)
        axes.set_title(metric, fontsize=10)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        if log_y:
            axes.set_yscale("log")
        if len(found) > 1:
            axes.legend(fontsize=8)

    attachments_dir.mkdir(parents=True, exist_ok=True)
    stem = _safe(f"{metrics[0]}-{found[0].info.run_name}")
    path = attachments_dir / f"mlflow-{stem}-{uuid.uuid4().hex[:8]}.png"
    figure.savefig(path)
    return Plot(
        attachment_path=str(path.resolve()),
        runs=[r.info.run_name for r in found],
        metrics=metrics,
        points=points,
    )


def _safe(text: str) -> str:
    """A file-name fragment: run and metric names may hold '/', spaces, anything."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60]
