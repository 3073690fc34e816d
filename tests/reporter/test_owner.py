"""Every event says whose job it is: `owner=`, else MLOPS_OWNER, else the scheduler's
`submitted_by` label, else the OS user."""

from __future__ import annotations

import os
import pwd

from mcp_servers.aiqu.jobenv import identity_env
from mlops_reporter.config import load_config

SECRET = "whsec_" + "A" * 32


def owner(environ: dict[str, str], argument: str | None = None) -> str | None:
    return load_config("j", None, None, None, None, None, environ, owner=argument).owner


def scheduled(submitted_by: str, **extra: str) -> dict[str, str]:
    """The environment the agent's scheduler gives a job (its labels as MLOPS_LABELS)."""
    return {**identity_env("7", "team/pcb", 1, {"submitted_by": submitted_by}), **extra}


def test_mlops_owner_wins_over_the_label_and_the_os_user() -> None:
    assert owner(scheduled("bo", MLOPS_OWNER="ann", USER="root")) == "ann"


def test_the_schedulers_submitted_by_label_wins_over_the_os_user() -> None:
    assert owner(scheduled("bo", USER="root")) == "bo"


def test_a_blank_mlops_owner_counts_as_unset() -> None:
    assert owner(scheduled("bo", MLOPS_OWNER="  ")) == "bo"


def test_without_either_the_os_user_owns_the_job() -> None:
    assert owner({"LOGNAME": "cy", "USER": "root"}) == "cy"


def test_without_a_login_variable_the_password_database_names_the_user() -> None:
    assert owner({}) == pwd.getpwuid(os.getuid()).pw_name


def test_the_argument_wins_over_everything() -> None:
    assert owner(scheduled("bo", MLOPS_OWNER="ann"), argument="dee") == "dee"


def test_the_owner_rides_on_every_event(receiver, make_reporter, monkeypatch) -> None:
    monkeypatch.setenv("MLOPS_LABELS", '{"submitted_by": "ann", "sweep": "s1"}')
    reporter = make_reporter(receiver)
    reporter.started()
    reporter.crashed(RuntimeError("boom"))
    events = receiver.wait_for(2)
    assert [(e["type"], e["owner"]) for e in events] == [("started", "ann"), ("crashed", "ann")]
