"""Run tools: search, one run in full, several side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from mlflow import MlflowClient
from mlflow.entities import Run
from pydantic import Field

from mcp_servers.mlflow.errors import MlflowSkillError
from mcp_servers.mlflow.lookup import (
    JOB_TAG,
    STATUSES,
    RunArg,
    duration_s,
    experiments,
    iso,
    key,
    number,
    quote,
    resolve_run,
    search,
)
from mcp_servers.mlflow.models import (
    Comparison,
    RunDetail,
    RunRef,
    RunRow,
    SearchRunsResult,
    Value,
)
from mcp_servers.mlflow.skill import MlflowSkill

MAX_LIMIT = 100
MAX_COMPARED = 10
DEFAULT_COMPARED_METRICS = 12
PARAM_CHARS = 200  # long params (JSON configs) are cut: the model pays for every token
# A parameter is described only where its name and type leave the model guessing.


def search_runs(
    skill: MlflowSkill,
    job: str | None = None,  # a job's name, or a run's
    status: Annotated[str | None, Field(description="e.g. FAILED")] = None,
    order_by_metric: str | None = None,
    order: Literal["asc", "desc"] = "asc",
    metrics: Annotated[list[str] | None, Field(description="to show")] = None,
    limit: int = 10,
) -> SearchRunsResult:
    """Find runs, newest first or by a metric."""
    client = skill.client
    if not 1 <= limit <= MAX_LIMIT:
        raise MlflowSkillError(f"limit must be 1..{MAX_LIMIT}, got {limit}")
    if order not in ("asc", "desc"):
        raise MlflowSkillError(f"order must be 'asc' or 'desc', got {order!r}")
    # Across every experiment: a job's runs are found by its name, wherever they were logged.
    # (Tag, param and experiment filters were left out of the tool: every parameter costs
    # the model its schema on every turn, and a job's name finds what it asks about.)
    names = experiments(client)
    ids = list(names)
    filters = _filters(status)
    order_by = None
    if order_by_metric:
        order_by = [f"{key('metrics', order_by_metric)} {order.upper()}"]
    shown = list(dict.fromkeys([*(metrics or []), *([order_by_metric] if order_by_metric else [])]))

    if job is None:
        runs = search(client, filters, limit + 1, order_by, ids)
    else:
        # A job is named by our tag or, for runs logged without the reporter, the run name.
        pattern = quote(job)
        by_tag = search(
            client, [*filters, f"{key('tags', JOB_TAG)} = {pattern}"], limit + 1, order_by, ids
        )
        by_name = search(
            client, [*filters, f"attributes.run_name = {pattern}"], limit + 1, order_by, ids
        )
        runs = list({r.info.run_id: r for r in [*by_tag, *by_name]}.values())
        runs.sort(key=_sort_key(order_by_metric, order))
    rows = [_row(r, names, shown) for r in runs[:limit]]
    return SearchRunsResult(runs=rows, more=len(runs) > limit)


def _filters(status: str | None) -> list[str]:
    if status is None:
        return []
    if status.upper() not in STATUSES:
        raise MlflowSkillError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    return [f"attributes.status = '{status.upper()}'"]


def _sort_key(metric: str | None, order: str) -> Callable[[Run], tuple[bool, float]]:
    """The order MLflow itself returns: by the metric (runs without it last), else newest."""
    if metric is None:
        return lambda r: (False, -float(r.info.start_time or 0))
    sign = 1.0 if order == "asc" else -1.0
    return lambda r: (metric not in r.data.metrics, sign * r.data.metrics.get(metric, 0.0))


def _row(run: Run, experiment_names: dict[str, str], metrics: list[str]) -> RunRow:
    return RunRow(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        job=run.data.tags.get(JOB_TAG),
        experiment=experiment_names.get(run.info.experiment_id, run.info.experiment_id),
        status=run.info.status,
        started=iso(run.info.start_time),
        duration_s=duration_s(run),
        metrics={m: number(run.data.metrics[m]) for m in metrics if m in run.data.metrics},
    )


def get_run(skill: MlflowSkill, run: RunArg) -> RunDetail:
    """One run: params, metrics, tags, status, times."""
    found = resolve_run(skill.client, run)
    names = {found.info.experiment_id: _experiment_name(skill.client, found.info.experiment_id)}
    row = _row(found, names, sorted(found.data.metrics))
    return RunDetail(
        **row.model_dump(),
        ended=iso(found.info.end_time),
        params={k: _cut(v) for k, v in sorted(found.data.params.items())},
        tags={
            k: _cut(v)
            for k, v in sorted(found.data.tags.items())
            if not k.startswith("mlflow.") and k != JOB_TAG
        },
    )


def compare_runs(
    skill: MlflowSkill,
    runs: Annotated[list[str], Field(description="run ids or names")],
    metrics: list[str] | None = None,
) -> Comparison | RunDetail:
    """Runs side by side; one run: all of it."""
    # One tool for both (the model reads every tool's schema on every turn).
    if len(runs) == 1:
        return get_run(skill, runs[0])
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise MlflowSkillError(f"give 1..{MAX_COMPARED} runs, got {len(runs)}")
    found = [resolve_run(skill.client, r) for r in runs]
    if len({r.info.run_id for r in found}) < len(found):
        raise MlflowSkillError("two of the given references name the same run; give distinct runs")
    param_names = sorted(set().union(*(r.data.params for r in found)))
    differing: dict[str, list[str | None]] = {}
    for name in param_names:
        values = [r.data.params.get(name) for r in found]
        if len(set(values)) > 1:
            differing[name] = [None if v is None else _cut(v) for v in values]
    if metrics:
        for m in metrics:
            if not any(m in r.data.metrics for r in found):
                logged = ", ".join(sorted(set().union(*(r.data.metrics for r in found))))
                raise MlflowSkillError(
                    f"metric {m!r} not logged in any of these runs; metrics: {logged}"
                )
        shown = metrics
    else:
        shown = sorted(set().union(*(r.data.metrics for r in found)))[:DEFAULT_COMPARED_METRICS]
    table: dict[str, list[Value | None]] = {
        m: [number(r.data.metrics[m]) if m in r.data.metrics else None for r in found]
        for m in shown
    }
    return Comparison(
        runs=[
            RunRef(
                run_id=r.info.run_id,
                run_name=r.info.run_name,
                job=r.data.tags.get(JOB_TAG),
                status=r.info.status,
            )
            for r in found
        ],
        params_differing=differing,
        params_identical=len(param_names) - len(differing),
        metrics=table,
    )


def _experiment_name(client: MlflowClient, experiment_id: str) -> str:
    return str(client.get_experiment(experiment_id).name)


def _cut(value: str) -> str:
    return value if len(value) <= PARAM_CHARS else value[:PARAM_CHARS] + "…"
