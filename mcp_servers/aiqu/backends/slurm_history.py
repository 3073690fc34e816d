"""How a finished job ended, once slurmctld has forgotten it (`MinJobAge` after its end).

A cluster keeps that history in one of three places, read here in this order:

- **slurmdbd** (`AccountingStorageType=accounting_storage/slurmdbd`): `sacct
  --json -j <ids>`, read with the same layouts as squeue (`slurm_json.py`);
- **jobcomp/filetxt**: Slurm's text log at `JobCompLoc`, one `key=value` line
  per job (times in the controller's local time);
- **jobcomp/script** with the skill's `slurm_jobcomp.sh`: the same line
  shape, times as unix seconds, in the file the script writes.

The log is read on this machine: `MLOPS_SLURM_JOBCOMP_LOG` says where it is
seen here when that is not the controller's path (always, for the script).
Without any of them, a job forgotten before anyone looked ends as UNKNOWN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from .base import SchedulerError
from .slurm_json import JobRecord, read_document

SCRIPT_LOG = Path("/var/log/slurm/jobcomp-aiqu.txt")  # where slurm_jobcomp.sh writes
JOBCOMP_LINE = re.compile(r"^JobId=(?P<id>\d+) ")
JOBCOMP_FIELDS = {
    key: re.compile(rf"(?:^| ){key}=(\S*)")
    for key in ("JobState", "Partition", "StartTime", "EndTime", "ExitCode")
}

Run = Callable[[Sequence[str]], str]  # a Slurm command's stdout, or SchedulerError


class HistoryUnavailable(SchedulerError):
    """The history source exists but could not be read just now."""


class History(Protocol):
    @property
    def description(self) -> str:
        """For doctor: which source, and where."""

    def finished(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """How these jobs ended, for those the source knows; HistoryUnavailable if unreadable."""


@dataclass(frozen=True)
class ControllerConfig:
    """The keys of `scontrol show config` that decide where history is."""

    accounting: str
    jobcomp_type: str
    jobcomp_loc: str

    @classmethod
    def parse(cls, text: str) -> ControllerConfig:
        pairs = (line.partition("=") for line in text.splitlines())
        config = {key.strip(): value.strip() for key, sep, value in pairs if sep}
        return cls(
            accounting=config.get("AccountingStorageType", ""),
            jobcomp_type=config.get("JobCompType", ""),
            jobcomp_loc=config.get("JobCompLoc", ""),
        )


def find_history(config: ControllerConfig, run: Run, jobcomp_log: Path | None) -> History:
    """The best history this cluster keeps: slurmdbd, else its jobcomp log, else none."""
    if config.accounting == "accounting_storage/slurmdbd":
        return Accounting(run)
    if config.jobcomp_type == "jobcomp/filetxt":
        return JobcompLog(jobcomp_log or Path(config.jobcomp_loc), config.jobcomp_type)
    if config.jobcomp_type == "jobcomp/script":
        return JobcompLog(jobcomp_log or SCRIPT_LOG, config.jobcomp_type)
    return NoHistory(config.jobcomp_type or "jobcomp/none")


@dataclass(frozen=True)
class Accounting:
    run: Run

    @property
    def description(self) -> str:
        return "sacct --json (slurmdbd)"

    def finished(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        argv = ["sacct", "--json", f"--jobs={','.join(job_ids)}"]
        try:
            text = self.run(argv)
        except SchedulerError as exc:
            raise HistoryUnavailable(str(exc)) from None
        return read_document(text, "sacct --json").accounted()


@dataclass(frozen=True)
class JobcompLog:
    path: Path
    plugin: str

    @property
    def description(self) -> str:
        readable = "readable" if _readable(self.path) else "NOT readable here"
        return f"{self.plugin} log {self.path} ({readable})"

    def finished(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        wanted = set(job_ids)
        try:
            text = self.path.read_text(errors="replace")
        except OSError as exc:
            raise HistoryUnavailable(
                f"no jobcomp text log is readable here ({self.path}: {exc.strerror})"
            ) from None
        found: dict[str, JobRecord] = {}
        for line in text.splitlines():
            head = JOBCOMP_LINE.match(line)
            if head and head["id"] in wanted:
                found[head["id"]] = completed(line)  # a requeued job's last line wins
        return found


@dataclass(frozen=True)
class NoHistory:
    plugin: str

    @property
    def description(self) -> str:
        return (
            f"none ({self.plugin}, no slurmdbd): a job Slurm forgets before it is looked at"
            " ends as UNKNOWN; set JobCompType=jobcomp/filetxt"
        )

    def finished(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        return {}


def completed(line: str) -> JobRecord:
    """One jobcomp line (filetxt or slurm_jobcomp.sh) as a final record."""
    values = {
        key: m[1] if (m := pattern.search(line)) else "" for key, pattern in JOBCOMP_FIELDS.items()
    }
    code, _, signal = values["ExitCode"].partition(":")
    exit_code = -int(signal) if signal.isdigit() and int(signal) else int(code or 0)
    return JobRecord(
        raw_state=values["JobState"].split()[0] if values["JobState"] else "UNKNOWN",
        queue=values["Partition"] or None,
        started_at=_time(values["StartTime"]),
        ended_at=_time(values["EndTime"]),
        exit_code=exit_code,
    )


def _time(text: str) -> float | None:
    """Unix seconds (the script) or the controller's local ISO time (filetxt)."""
    if text.isdigit():
        return float(text) or None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None  # "Unknown", "None"


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False
