"""The agent's actions: no model-written commands, and hands off other people's jobs."""

from __future__ import annotations

import pytest

from mcp_servers.aiqu import actions
from mcp_servers.aiqu.backends.base import JobState
from mcp_servers.aiqu.errors import InvalidRequest, NeedsHuman
from mcp_servers.aiqu.skill import AiquSkill

from .conftest import spec, wait_state

FOREVER = "import time; time.sleep(120)"


def person_job(skill: AiquSkill, code: str = FOREVER, who: str = "ann", **kw: object) -> str:
    labels = {"submitted_by": who, "sweep": "lr-1"}
    return skill.scheduler.submit(spec("team/pcb", code, labels=labels, **kw)).id


def test_cancelling_someone_else_s_job_is_refused_and_it_keeps_running(skill: AiquSkill):
    job = person_job(skill)
    with pytest.raises(
        NeedsHuman,
        match="submitted by ann, not by the agent; cancelling someone"
        " else's job needs a human's confirmation",
    ):
        actions.cancel_job(skill, job)
    assert skill.scheduler.get(job).state is JobState.RUNNING


def test_agent_can_stop_its_own_job(skill: AiquSkill):
    source = person_job(skill)
    own = actions.submit_job(skill, source, name="team/pcb-trial-1").job
    result = actions.cancel_job(skill, own.id)
    assert result.job.state == "cancelled"
    assert skill.scheduler.get(source).state is JobState.RUNNING


def test_agent_can_requeue_anyone_s_crashed_job(skill: AiquSkill):
    job = person_job(skill, "raise SystemExit(2)")
    wait_state(skill.scheduler, job, "failed")
    again = actions.requeue_job(skill, job).job
    assert (again.name, again.attempt, again.submitted_by) == ("team/pcb", 2, "ann")


def test_agent_cannot_requeue_someone_else_s_succeeded_job(skill: AiquSkill):
    job = person_job(skill, "pass")
    wait_state(skill.scheduler, job, "succeeded")
    with pytest.raises(NeedsHuman, match="anyone's failed or cancelled job"):
        actions.requeue_job(skill, job)
    assert len(skill.scheduler.list()) == 1


def test_agent_can_rerun_its_own_succeeded_job(skill: AiquSkill):
    own = actions.submit_job(skill, person_job(skill, "pass"), name="team/trial").job
    wait_state(skill.scheduler, own.id, "succeeded")
    assert actions.requeue_job(skill, own.id).job.attempt == 2


def test_requeue_of_a_running_job_is_refused(skill: AiquSkill):
    own = actions.submit_job(skill, person_job(skill), name="team/trial").job
    with pytest.raises(
        InvalidRequest, match="is still running; requeue applies to jobs that ended"
    ):
        actions.requeue_job(skill, own.id)


def test_submission_clones_the_command_and_appends_params(skill: AiquSkill):
    source = person_job(skill, "import sys; print(sys.argv[1:])", workdir="/tmp")
    result = actions.submit_job(
        skill, source, name="team/pcb-lr", params={"lr": 0.0003, "epochs": 20, "opt": "adamw"}
    )
    wait_state(skill.scheduler, result.job.id, "succeeded")
    assert skill.scheduler.logs(result.job.id) == "['--lr=0.0003', '--epochs=20', '--opt=adamw']"


def test_param_given_again_replaces_the_earlier_value(skill: AiquSkill):
    first = actions.submit_job(skill, person_job(skill), name="t/1", params={"lr": 0.1}).job
    second = actions.submit_job(skill, first.id, name="t/2", params={"lr": 0.2}).job
    assert second.command is not None
    assert [a for a in second.command if a.startswith("--lr")] == ["--lr=0.2"]


def test_agent_jobs_are_labelled_and_keep_the_source_labels(skill: AiquSkill):
    source = person_job(skill)
    job = actions.submit_job(skill, source, labels={"trial": "3"}).job
    assert job.labels == {
        "sweep": "lr-1",
        "trial": "3",
        "cloned_from": source,
        "submitted_by": "agent",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"--output": "/etc"}, "invalid param name '--output'"),
        ({"lr;rm -rf /": 1}, "invalid param name"),
        ({"": 1}, "invalid param name"),
        ({"note": "a\nb"}, "without control characters"),
        ({"note": "x" * 300}, "at most 256 characters"),
    ],
)
def test_bad_params_are_refused_and_nothing_is_started(
    skill: AiquSkill, params: dict[str, str | int], message: str
):
    source = person_job(skill)
    with pytest.raises(InvalidRequest, match=message):
        actions.submit_job(skill, source, params=params)
    assert [j.id for j in skill.scheduler.list()] == [source]


def test_model_cannot_claim_a_job_as_someone_else_s(skill: AiquSkill):
    source = person_job(skill)
    with pytest.raises(InvalidRequest, match="'submitted_by' is set by the skill"):
        actions.submit_job(skill, source, labels={"submitted_by": "ann"})


def test_invalid_name_says_what_is_valid(skill: AiquSkill):
    with pytest.raises(InvalidRequest, match="e.g. 'customer-b/pcb-inspect-v2-lr3e-4'"):
        actions.submit_job(skill, person_job(skill), name="../../etc")


def test_unknown_source_job_lists_recent_ones(skill: AiquSkill):
    source = person_job(skill)
    with pytest.raises(
        InvalidRequest, match=rf"no job with id or name 'nope'.*team/pcb \(id {source}\)"
    ):
        actions.submit_job(skill, "nope")


def test_job_named_by_logical_name_means_its_latest_attempt(skill: AiquSkill):
    first = person_job(skill, "raise SystemExit(1)")
    wait_state(skill.scheduler, first, "failed")
    second = actions.requeue_job(skill, "team/pcb").job
    wait_state(skill.scheduler, second.id, "failed")
    third = actions.requeue_job(skill, "team/pcb").job
    assert third.attempt == 3
