"""Where finished jobs are read back from, against recorded output of real Slurm daemons.

The slurmdbd path (`sacct --json`) is tested here only, on what real 22.05 and
24.11 slurmdbd printed when `capture.py` ran them: the suite's clusters have
no slurmdbd (it needs MariaDB and a network). The jobcomp logs are also read
live by test_slurm_backend.py (filetxt) and test_slurm_jobcomp_script.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from mcp_servers.aiqu.backends.base import SchedulerError
from mcp_servers.aiqu.backends.slurm_history import (
    SCRIPT_LOG,
    Accounting,
    ControllerConfig,
    HistoryUnavailable,
    JobcompLog,
    NoHistory,
    completed,
    find_history,
)
from tests.slurm.recordings import recorded

VERSIONS = ("22.05", "24.11")


def never(argv: Sequence[str]) -> str:
    raise AssertionError(f"no Slurm command expected, got {argv}")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_cluster_with_slurmdbd_is_read_through_sacct(version: str) -> None:
    recording = recorded(version)
    config = ControllerConfig.parse(recording.text("scontrol-config.txt"))
    asked: list[Sequence[str]] = []

    def slurm(argv: Sequence[str]) -> str:
        asked.append(argv)
        return recording.text("sacct.json")

    history = find_history(config, slurm, None)
    ids = recording.ids
    found = history.finished([ids["killed"], ids["ok"]])

    assert history.description == "sacct --json (slurmdbd)"
    assert asked == [["sacct", "--json", f"--jobs={ids['killed']},{ids['ok']}"]]
    assert (found[ids["killed"]].raw_state, found[ids["killed"]].exit_code) == ("FAILED", -9)
    assert (found[ids["ok"]].raw_state, found[ids["ok"]].exit_code) == ("COMPLETED", 0)


def test_sacct_failing_makes_the_history_unavailable_not_empty() -> None:
    def down(argv: Sequence[str]) -> str:
        raise SchedulerError("sacct failed (exit 1): Connection refused")

    with pytest.raises(HistoryUnavailable, match="Connection refused"):
        Accounting(down).finished(["7"])


@pytest.mark.parametrize("version", VERSIONS)
def test_a_filetxt_log_is_read_where_this_machine_sees_it(version: str, tmp_path: Path) -> None:
    recording = recorded(version)
    config = ControllerConfig.parse(
        recording.text("scontrol-config.txt").replace("slurmdbd", "none")
    )
    log = tmp_path / "jobcomp.txt"
    log.write_text(recording.text("jobcomp.txt"))
    ids = recording.ids

    at_controller = find_history(config, never, None)
    here = find_history(config, never, log)
    found = here.finished([ids["fails"], ids["killed"], "999"])

    assert at_controller == JobcompLog(Path(config.jobcomp_loc), "jobcomp/filetxt")
    assert here.description == f"jobcomp/filetxt log {log} (readable)"
    assert {job_id: (r.raw_state, r.exit_code) for job_id, r in found.items()} == {
        ids["fails"]: ("FAILED", 3),
        ids["killed"]: ("FAILED", -9),
    }
    assert found[ids["fails"]].started_at is not None
    assert found[ids["fails"]].queue == "debug"


def test_an_unreadable_log_is_unavailable_and_doctor_says_so(tmp_path: Path) -> None:
    log = JobcompLog(tmp_path / "absent.txt", "jobcomp/filetxt")

    assert log.description == f"jobcomp/filetxt log {tmp_path}/absent.txt (NOT readable here)"
    with pytest.raises(HistoryUnavailable, match="no jobcomp text log is readable here"):
        log.finished(["1"])


def test_jobcomp_script_defaults_to_where_the_shipped_script_writes() -> None:
    config = ControllerConfig("accounting_storage/none", "jobcomp/script", "/etc/slurm/aiqu.sh")

    assert find_history(config, never, None) == JobcompLog(SCRIPT_LOG, "jobcomp/script")


def test_without_any_history_doctor_says_what_to_set() -> None:
    config = ControllerConfig("accounting_storage/none", "jobcomp/none", "")
    history = find_history(config, never, None)

    assert history == NoHistory("jobcomp/none")
    assert history.finished(["1"]) == {}
    assert "set JobCompType=jobcomp/filetxt" in history.description


def test_the_scripts_line_keeps_unix_times_and_the_signal() -> None:
    line = (
        "JobId=12 UserId=ann(1000) JobState=FAILED Partition=gpu StartTime=1795764558"
        " EndTime=1795764600 ExitCode=0:9 Name=a name with JobState=COMPLETED in it"
    )

    record = completed(line)

    assert (record.raw_state, record.exit_code, record.queue) == ("FAILED", -9, "gpu")
    assert (record.started_at, record.ended_at) == (1795764558.0, 1795764600.0)
