"""Whose job is it? On a site with routes, a customer's job is acted on from its own route.

The agent's own freedoms (stop the jobs it started, requeue a failed run, clone a
job, run a sweep) hold inside a customer's route: in the job's thread or another
thread of that route. Asked from anywhere else (another customer's thread, a DM),
a cancel or requeue of a routed job becomes a proposal that an approver of the
job's route must approve (`core.approvers`), and starting new work from it is
refused. Jobs no route lists, and sites without routes, are as before.
"""

from __future__ import annotations

from core.ledger import GateRefused
from core.routes import DEFAULT, Route

from .errors import InvalidRequest, NeedsHuman
from .skill import AiquSkill


def job_route(skill: AiquSkill, job_name: str) -> Route | None:
    """The route of a job that a route lists; None for the rest (or without routes)."""
    gate = skill.proposals
    if gate is None:
        return None
    route = gate.routes.for_job(job_name)
    return None if route.name == DEFAULT else route


def from_another_route(skill: AiquSkill, turn_id: str | None, job_name: str) -> Route | None:
    """The job's route when this turn's conversation is not of it; None when it is (or the
    job is no route's). A routed job needs the turn_id to tell."""
    route = job_route(skill, job_name)
    if route is None:
        return None
    if not turn_id:
        raise InvalidRequest(
            f"job {job_name} belongs to route {route.name}: pass this turn's turn_id"
        )
    assert skill.proposals is not None
    here = skill.proposals.route_of_turn(turn_id)
    if here is None:
        raise GateRefused(
            f"unknown turn_id {turn_id!r}: pass the turn_id shown in this turn's header"
        )
    return None if here.name == route.name else route


def refuse_from_another_route(skill: AiquSkill, turn_id: str | None, job_name: str) -> None:
    """Starting new work on a customer's job is that customer's thread's business."""
    route = from_another_route(skill, turn_id, job_name)
    if route is not None:
        raise NeedsHuman(
            f"refused: job {job_name} belongs to route {route.name}; start work on it only from"
            f" a thread of {route.name} (its job threads or channel {route.channel})"
        )
