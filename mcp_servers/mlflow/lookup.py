"""Finding runs: experiments, filter strings, run references, and the errors that help.

A run reference is what a person or the model has at hand: a run ID, a run
name, or our job name (runs are tagged `mlops.job=<logical job name>` by the
reporter). A name picks its most recent run; the result carries the run ID.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from pydantic import Field

from mcp_servers.mlflow.errors import MlflowSkillError

JOB_TAG = "mlops.job"
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
NEWEST_FIRST = ["attributes.start_time DESC"]
STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")

RunArg = Annotated[str, Field(description="run id, run or job name")]


def experiments(client: MlflowClient) -> dict[str, str]:
    """All active experiments, id -> name (runs are searched across all of them)."""
    found: dict[str, str] = {}
    token: str | None = None
    while True:
        page = client.search_experiments(
            view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
        )
        found.update({e.experiment_id: e.name for e in page})
        token = page.token
        if not token:
            return found


def quote(value: str) -> str:
    """A value as an MLflow filter-string literal (its grammar has no escape character)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise MlflowSkillError(f"{value!r} contains both ' and \": MLflow filters cannot express it")


def key(kind: str, name: str) -> str:
    """`tags.`a.b`` etc.: backticks let keys carry dots, dashes and spaces."""
    if "`" in name:
        raise MlflowSkillError(
            f"{kind} name {name!r} contains a backtick: MLflow filters cannot express it"
        )
    return f"{kind}.`{name}`"


def search(
    client: MlflowClient,
    filters: list[str],
    limit: int,
    order_by: list[str] | None = None,
    experiment_ids: list[str] | None = None,
) -> list[Run]:
    ids = experiment_ids if experiment_ids is not None else list(experiments(client))
    if not ids:
        return []
    try:
        return list(
            client.search_runs(
                ids, " and ".join(filters), max_results=limit, order_by=order_by or NEWEST_FIRST
            )
        )
    except MlflowException as exc:
        if exc.error_code != "INVALID_PARAMETER_VALUE":
            raise  # server down etc.: reported as MLflow's own failure
        raise MlflowSkillError(f"MLflow rejected the search: {exc.message}") from None


def resolve_run(client: MlflowClient, ref: str) -> Run:
    """A run from its ID, run name or job name; the most recent when a name has several."""
    ref = ref.strip()
    if RUN_ID.match(ref):
        try:
            return client.get_run(ref)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            # a 32-hex run name is possible: fall through to names
    ids = list(experiments(client))
    for field in ("attributes.run_name", key("tags", JOB_TAG)):
        runs = search(client, [f"{field} = {quote(ref)}"], 1, experiment_ids=ids)
        if runs:
            return runs[0]
    raise MlflowSkillError(unknown_run_message(client, ref, ids))


def unknown_run_message(client: MlflowClient, ref: str, ids: list[str]) -> str:
    pattern = quote(f"%{ref}%")
    similar: dict[str, Run] = {}
    for field in ("attributes.run_name", key("tags", JOB_TAG)):
        for run in search(client, [f"{field} ILIKE {pattern}"], 5, experiment_ids=ids):
            similar.setdefault(run.info.run_id, run)
    if similar:
        listed = "; ".join(label(r) for r in list(similar.values())[:8])
        return f"unknown run {ref!r}; runs whose name or job contains it: {listed}"
    recent = search(client, [], 5, experiment_ids=ids)
    if not recent:
        return f"unknown run {ref!r}; no runs are logged on this MLflow server yet"
    listed = "; ".join(label(r) for r in recent)
    return f"unknown run {ref!r}; give a run ID, run name or job name. Most recent runs: {listed}"


def label(run: Run) -> str:
    job = run.data.tags.get(JOB_TAG)
    return f"{run.info.run_name} (id {run.info.run_id}{', job ' + job if job else ''})"


def iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_s(run: Run, now_ms: int | None = None) -> float | None:
    """Seconds from start to end, or to now while the run has no end time."""
    start, end = run.info.start_time, run.info.end_time
    if not start:
        return None
    until = end or now_ms or int(datetime.now(UTC).timestamp() * 1000)
    return round((until - start) / 1000, 1)


def number(x: float) -> float | str:
    """Six significant digits (the model pays per token); nan/inf spelled out."""
    if math.isfinite(x):
        return float(f"{x:.6g}")
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def metric_keys_message(run: Run, metric: str) -> str:
    logged = ", ".join(sorted(run.data.metrics)) or "(none)"
    return f"metric {metric!r} not logged in run {run.info.run_name}; metrics: {logged}"
