"""Each sweep limit is code: one refusal per test, stating usage and limit, changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from core.ledger import Ledger
from core.proposals import GatedProposals
from mcp_servers.aiqu.backends.base import Job
from mcp_servers.aiqu.errors import BudgetExceeded, Refused
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps import actions as act
from mcp_servers.aiqu.sweeps.book import SweepBook, SweepLimitReached
from mcp_servers.aiqu.sweeps.quiet import QuietHours, QuietHoursRefused
from mcp_servers.registry import proposal_words
from tests.aiqu.conftest import wait_state

LR = {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}


def start(skill: AiquSkill, base: Job, **kw: object) -> None:
    kw.setdefault("max_trials", 6)
    kw.setdefault("max_parallel", 2)
    kw.setdefault("trial_time_limit_min", 5)
    act.start_sweep(skill, "s1", base.id, "val_loss", "minimize", LR, **kw)  # type: ignore[arg-type]


def sweep_job_count(skill: AiquSkill) -> int:
    return len([j for j in skill.scheduler.list() if j.labels.get("sweep") == "s1"])


def optuna_trials(book: SweepBook) -> int:
    return len(book.study("s1").trials)


def test_trial_past_max_trials_is_refused(skill: AiquSkill, book: SweepBook, base_job: Job) -> None:
    start(skill, base_job, max_trials=2, max_parallel=3)
    for _ in range(2):
        act.next_trial(skill, "s1")
    with pytest.raises(SweepLimitReached, match="started 2 of 2 trials allowed"):
        act.next_trial(skill, "s1")
    assert optuna_trials(book) == 2 and sweep_job_count(skill) == 2


def test_trial_past_max_parallel_is_refused(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job, fixed_params={"sleep": 30})
    first = act.next_trial(skill, "s1")
    act.next_trial(skill, "s1")
    with pytest.raises(SweepLimitReached, match="2 of 2 parallel trials allowed"):
        act.next_trial(skill, "s1")
    assert optuna_trials(book) == 2 and sweep_job_count(skill) == 2
    # A reported trial no longer counts, even while its process is still exiting.
    act.report_trial(skill, "s1", first.trial, 0.5)
    assert skill.scheduler.get(first.job_id).state.active
    assert act.next_trial(skill, "s1").trial == 2


def test_trial_over_the_gpu_hour_budget_is_refused(
    make_skill: Callable[..., AiquSkill], book: SweepBook
) -> None:
    skill = make_skill(max_jobs=10, max_gpu_hours=1.0, book=book)
    from tests.sweeps.conftest import TRIAL_CODE, spec

    base = skill.scheduler.submit(spec("team/train", TRIAL_CODE, gpus=1, labels={}))
    start(skill, base, trial_time_limit_min=120)  # 1 GPU x 2 h > 1 GPU-hour
    with pytest.raises(BudgetExceeded, match=r"would be 2.0 of 1.0 allowed"):
        act.next_trial(skill, "s1")
    assert optuna_trials(book) == 0 and sweep_job_count(skill) == 0
    assert skill.agent_usage().gpu_hours_24h == 0


def test_trial_past_the_agents_job_limit_is_refused(
    make_skill: Callable[..., AiquSkill], book: SweepBook
) -> None:
    skill = make_skill(max_jobs=1, book=book)
    from tests.sweeps.conftest import TRIAL_CODE, spec

    base = skill.scheduler.submit(spec("team/train", TRIAL_CODE, gpus=0, labels={}))
    start(skill, base, fixed_params={"sleep": 30})
    act.next_trial(skill, "s1")
    with pytest.raises(BudgetExceeded, match="would be 2 of 1 allowed"):
        act.next_trial(skill, "s1")
    assert optuna_trials(book) == 1


def test_trial_in_quiet_hours_is_refused_and_allowed_after(
    skill: AiquSkill, make_book: Callable[..., SweepBook], base_job: Job
) -> None:
    now = [datetime(2026, 3, 2, 23, 15, tzinfo=UTC).timestamp()]
    book = skill.book = make_book(QuietHours(time(22, 0), time(6, 0), UTC), clock=lambda: now[0])
    start(skill, base_job)
    with pytest.raises(QuietHoursRefused, match=r"quiet hours 22:00-06:00 UTC \(now 23:15\)"):
        act.next_trial(skill, "s1")
    assert optuna_trials(book) == 0 and sweep_job_count(skill) == 0
    now[0] = datetime(2026, 3, 3, 6, 0, tzinfo=UTC).timestamp()
    assert act.next_trial(skill, "s1").trial == 0


def test_paused_and_stopped_sweeps_start_nothing_until_resumed(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job)
    act.control_sweep(skill, "s1", "pause", "asked by alice")
    with pytest.raises(
        Refused, match=r"s1 is paused \(asked by alice\); control_sweep action=resume"
    ):
        act.next_trial(skill, "s1")
    act.control_sweep(skill, "s1", "stop", None)
    with pytest.raises(Refused, match="s1 is stopped"):
        act.next_trial(skill, "s1")
    assert optuna_trials(book) == 0
    act.control_sweep(skill, "s1", "resume", None)
    assert act.next_trial(skill, "s1").trial == 0


def test_finished_sweep_cannot_be_resumed(skill: AiquSkill, book: SweepBook, base_job: Job) -> None:
    start(skill, base_job, max_trials=1)
    t = act.next_trial(skill, "s1")
    wait_state(skill.scheduler, t.job_id, "succeeded")
    act.report_trial(skill, "s1", 0, 0.5)
    with pytest.raises(Exception, match="finished"):
        act.control_sweep(skill, "s1", "resume", None)


@pytest.mark.parametrize("gated", [False, True], ids=["no ledger", "with the write gate"])
def test_prune_refuses_a_job_the_agent_did_not_submit(
    skill: AiquSkill, book: SweepBook, base_job: Job, state_dir: Path, gated: bool
) -> None:
    from tests.sweeps.conftest import TRIAL_CODE, spec

    # With the service's ledger, cancel_job would offer a proposal; pruning never does.
    ledger = Ledger(state_dir / "ledger.sqlite", Ledger.create_key(state_dir / "ledger.key"))
    if gated:
        skill.proposals = GatedProposals(ledger, frozenset({"U_ALICE"}), kinds=proposal_words())
    start(skill, base_job)
    trial = book.study("s1").ask(act.distributions(act.spec_of(book.record("s1")).space))
    # A person's job that claims to be trial 0: the sweep adopts it, but may not stop it.
    job = skill.scheduler.submit(
        spec("s1/trial-0", TRIAL_CODE + "time.sleep(30)\n", labels={"sweep": "s1", "trial": "0"})
    )
    assert act.next_trial(skill, "s1").job_id == job.id
    wait_state(skill.scheduler, job.id, "running")
    with pytest.raises(Refused, match="not by the agent"):
        act.prune_trial(skill, "s1", trial.number, "flat")
    assert skill.scheduler.get(job.id).state.value == "running"
    assert ledger.audit_rows() == []  # nothing proposed
