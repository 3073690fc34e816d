"""Reversible actions the agent takes on its own: submit, requeue, cancel.

The model never writes a command: a submission clones the spec of a job that
already exists and may only append `--key=value` arguments whose keys look
like option names. Every start goes through the budget; every stop through
the ownership rule, and stopping someone else's job through the write gate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field

from core.proposals import GatedProposals

from .backends.base import Job, SchedulerError
from .errors import InvalidRequest, NeedsHuman
from .jobs import resolve_job
from .models import ActionResult, JobDetail
from .ownership import (
    AGENT,
    CANCEL_KIND,
    REQUEUE_KIND,
    SUBMITTED_BY,
    cancel_proposal,
    check_cancel_allowed,
    check_requeue_allowed,
    is_agent_owned,
    job_proposal,
)
from .params import PARAM_KEY, Gpus, JobRef, Minutes, ParamValue, TurnId
from .route_check import from_another_route, refuse_from_another_route
from .skill import AiquSkill

JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
MAX_PARAMS = 32
MAX_LABELS = 16
MAX_VALUE_CHARS = 256
DONE = {"cancel": "cancelled", "requeue": "requeued"}


def submit_job(
    skill: AiquSkill,
    from_job: JobRef,
    name: str | None = None,  # default: the next attempt of from_job's
    params: Annotated[
        dict[str, ParamValue] | None, Field(description='--key=value args, e.g. {"lr": 0.01}')
    ] = None,
    gpus: Gpus | None = None,
    time_limit_min: Minutes | None = None,
    labels: dict[str, str] | None = None,
    turn_id: TurnId = None,
) -> ActionResult:
    """Start a clone of a job."""
    source = resolve_job(skill.scheduler, from_job)
    refuse_from_another_route(skill, turn_id, source.name)
    if source.spec is None:
        raise InvalidRequest(f"job {source.id} has no stored spec to clone; pick another job")
    if name is not None and not JOB_NAME.fullmatch(name):
        raise InvalidRequest(
            f"invalid job name {name!r}: use letters, digits and . _ / - (up to 128),"
            " e.g. 'customer-b/pcb-inspect-v2-lr3e-4'"
        )
    if name is not None:
        refuse_from_another_route(skill, turn_id, name)  # nor under another customer's name
    spec = replace(
        source.spec,
        name=name or source.name,
        command=with_params(source.spec.command, params or {}),
        gpus=source.spec.gpus if gpus is None else gpus,
        time_limit_min=time_limit_min or skill.budget.limits.default_time_limit_min,
        labels=agent_labels(source.spec.labels, labels or {}, cloned_from=source.id),
    )
    with skill.budget.spend(
        skill.count_active_agent_jobs,
        gpus=spec.gpus,
        time_limit_min=spec.time_limit_min or 0,
        action="submit",
    ) as record:
        job = skill.scheduler.submit(spec)
        record(job.id)
    return _result(skill, f"submitted job {job.id} ({job.name}, attempt {job.attempt})", job)


class GatedResult(ActionResult):
    proposal_id: str | None = Field(
        None, description="set when a person must approve it first: the proposal's id"
    )


CancelResult = GatedResult


def requeue_job(
    skill: AiquSkill,
    job: JobRef,
    turn_id: TurnId = None,
    proposal_id: str | None = None,
) -> GatedResult:
    """Rerun an ended job."""
    if proposal_id is not None:
        return _apply_requeue(skill, job, turn_id, proposal_id)
    found = resolve_job(skill.scheduler, job)
    _check_ended(found)
    check_requeue_allowed(found)
    if route := from_another_route(skill, turn_id, found.name):
        assert turn_id is not None  # a routed job needs it: from_another_route said so
        return _propose(skill, found, turn_id, REQUEUE_KIND, "requeue", route.name)
    new = _requeue(skill, found)
    message = f"requeued {found.name} as job {new.id} (attempt {new.attempt})"
    return GatedResult(**_result(skill, message, new).model_dump())


def _requeue(skill: AiquSkill, found: Job, before: Callable[[], object] = lambda: None) -> Job:
    """Requeue within the budget; `before` runs once the budget agreed (spends an approval)."""
    limit = (found.spec.time_limit_min if found.spec else None) or (
        skill.budget.limits.default_time_limit_min
    )
    with skill.budget.spend(
        skill.count_active_agent_jobs, gpus=found.gpus, time_limit_min=limit, action="requeue"
    ) as record:
        before()
        new = skill.scheduler.requeue(found.id)
        record(new.id)
    return new


def _apply_requeue(
    skill: AiquSkill, job: str, turn_id: str | None, proposal_id: str
) -> GatedResult:
    gate, turn_id, payload = _approved(skill, job, turn_id, proposal_id, REQUEUE_KIND)
    target = skill.scheduler.get(payload["job_id"])
    if target.state.active:
        gate.close(proposal_id, "expired", f"job already {target.state.value} again")
        raise InvalidRequest(
            f"job {target.id} ({target.name}) is {target.state.value} again: nothing to"
            f" requeue; proposal {proposal_id} is closed"
        )
    spent: list[str] = []
    new = _requeue(skill, target, lambda: spent.append(gate.spend(proposal_id, turn_id).person))
    gate.close(proposal_id, "applied", f"requeued as job {new.id}")
    message = (
        f"requeued {target.name} as job {new.id} (attempt {new.attempt}), approved by {spent[0]}"
    )
    return GatedResult(**_result(skill, message, new).model_dump(), proposal_id=proposal_id)


def cancel_job(
    skill: AiquSkill,
    job: JobRef,
    turn_id: str | None = None,
    proposal_id: str | None = None,
) -> CancelResult:
    """Stop a job."""
    # The agent's own job stops at once. Someone else's goes through the write gate:
    # without proposal_id this files a proposal; with it, the approved cancel runs.
    if proposal_id is not None:
        return _apply_cancel(skill, job, turn_id, proposal_id)
    found = resolve_job(skill.scheduler, job)
    gate = skill.proposals
    if gate is None:
        check_cancel_allowed(found)
    _check_active(found)
    route = from_another_route(skill, turn_id, found.name)
    if is_agent_owned(found) and route is None:
        stopped = skill.scheduler.cancel(found.id)
        return _cancel_result(skill, f"cancelled job {stopped.id} ({stopped.name})", stopped)
    assert gate is not None
    if not turn_id:
        raise NeedsHuman(
            f"job {found.id} ({found.name}) was submitted by {found.submitted_by}: cancelling it"
            " needs a human's confirmation; pass this turn's turn_id to file a proposal"
        )
    return _propose(skill, found, turn_id, CANCEL_KIND, "cancel", route.name if route else None)


def _propose(
    skill: AiquSkill, found: Job, turn_id: str, kind: str, action: str, route: str | None
) -> GatedResult:
    """File a proposal to act on `found`: someone else's job, or a job of another route."""
    assert skill.proposals is not None
    payload, summary = (
        cancel_proposal(found) if kind == CANCEL_KIND else job_proposal(found, action)
    )
    proposal = skill.proposals.propose(turn_id, kind, payload, summary)
    why = (
        f"it belongs to route {route}, so an approver of {route}"
        if route
        else f"it was submitted by {found.submitted_by}, so a person"
    )
    return _cancel_result(
        skill,
        f"not {DONE[action]} yet: job {found.id} ({found.name}): {why} must approve proposal"
        f" {proposal.id}. End your turn now; call {action}_job again with"
        f" proposal_id={proposal.id} only in a later turn that tells you it was approved",
        found,
        proposal.id,
    )


def _approved(
    skill: AiquSkill, job: str, turn_id: str | None, proposal_id: str, kind: str
) -> tuple[GatedProposals, str, dict[str, Any]]:
    """The gate, the turn and the approved proposal's payload, for `job`; GateRefused or
    InvalidRequest if not."""
    gate = skill.proposals
    if gate is None:
        raise NeedsHuman(
            "no guard ledger is configured for this skill, so no proposal can be"
            " approved; ask a person to do it"
        )
    if not turn_id:
        raise InvalidRequest("pass this turn's turn_id together with proposal_id")
    payload = gate.approved(proposal_id, turn_id, kind).proposal.payload
    if job.strip() not in (payload["job_id"], payload["job"]):
        raise InvalidRequest(
            f"proposal {proposal_id} is for job {payload['job_id']} ({payload['job']}),"
            f" not {job!r}; pass that job"
        )
    return gate, turn_id, payload


def _apply_cancel(
    skill: AiquSkill, job: str, turn_id: str | None, proposal_id: str
) -> CancelResult:
    gate, turn_id, payload = _approved(skill, job, turn_id, proposal_id, CANCEL_KIND)
    # The job the person approved, by id: never a later attempt under the same name.
    target = skill.scheduler.get(payload["job_id"])
    if not target.state.active:
        gate.close(proposal_id, "expired", f"job already {target.state.value}")
        raise InvalidRequest(
            f"job {target.id} ({target.name}) already {target.state.value}: nothing to cancel;"
            f" proposal {proposal_id} is closed"
        )
    confirmation = gate.spend(proposal_id, turn_id)
    try:
        stopped = skill.scheduler.cancel(target.id)
    except SchedulerError as exc:
        gate.close(proposal_id, "expired", f"cancel failed: {exc}")
        raise
    gate.close(proposal_id, "applied", f"cancelled job {stopped.id}")
    return _cancel_result(
        skill,
        f"cancelled job {stopped.id} ({stopped.name}), approved by {confirmation.person}",
        stopped,
        proposal_id,
    )


def _check_ended(job: Job) -> None:
    if job.state.active:
        raise InvalidRequest(
            f"job {job.id} ({job.name}) is still {job.state.value}; requeue applies to"
            " jobs that ended"
        )


def _check_active(job: Job) -> None:
    if not job.state.active:
        raise InvalidRequest(
            f"job {job.id} ({job.name}) already {job.state.value}; only pending or"
            " running jobs can be cancelled"
        )


def _cancel_result(
    skill: AiquSkill, message: str, job: Job, proposal_id: str | None = None
) -> CancelResult:
    result = _result(skill, message, job)
    return CancelResult(**result.model_dump(), proposal_id=proposal_id)


def with_params(command: list[str], params: dict[str, ParamValue]) -> list[str]:
    """The command with `--key=value` per param, replacing an earlier `--key=` of the same key."""
    if len(params) > MAX_PARAMS:
        raise InvalidRequest(f"at most {MAX_PARAMS} params per job, got {len(params)}")
    for key, value in params.items():
        if not PARAM_KEY.fullmatch(key):
            raise InvalidRequest(
                f"invalid param name {key!r}: start with a letter or _, then letters, digits,"
                " _ . - (e.g. lr, optimizer.momentum, warmup_steps)"
            )
        _check_value(f"param {key!r}", str(value))
    prefixes = tuple(f"--{k}=" for k in params)
    kept = [arg for arg in command if not (prefixes and arg.startswith(prefixes))]
    return kept + [f"--{k}={v}" for k, v in params.items()]


def agent_labels(
    source: dict[str, str], extra: dict[str, str], *, cloned_from: str
) -> dict[str, str]:
    if len(extra) > MAX_LABELS:
        raise InvalidRequest(f"at most {MAX_LABELS} labels, got {len(extra)}")
    for key, value in extra.items():
        if key == SUBMITTED_BY:
            raise InvalidRequest("label 'submitted_by' is set by the skill; choose another key")
        if not PARAM_KEY.fullmatch(key):
            raise InvalidRequest(
                f"invalid label key {key!r}: start with a letter or _, then letters, digits,"
                " _ . - (e.g. sweep, trial)"
            )
        _check_value(f"label {key!r}", value)
    labels = {k: v for k, v in source.items() if k != SUBMITTED_BY}
    labels["cloned_from"] = cloned_from
    labels.update(extra)
    labels[SUBMITTED_BY] = AGENT
    return labels


def _check_value(what: str, value: str) -> None:
    if len(value) > MAX_VALUE_CHARS or any(ch < " " for ch in value):
        raise InvalidRequest(
            f"{what}: values are at most {MAX_VALUE_CHARS} characters without control characters"
        )


def _result(skill: AiquSkill, message: str, job: Job) -> ActionResult:
    message += f": {job.state.value}" + (f", {job.reason}" if job.reason else "")
    return ActionResult(message=message, job=JobDetail.of(job), agent_budget=skill.agent_usage())
