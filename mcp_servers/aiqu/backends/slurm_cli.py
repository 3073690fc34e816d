"""Slurm's view, through its client commands: squeue, scontrol, and the history of jobs it
forgot (`slurm_history.py`).

Slurm is asked only for what a call needs: active jobs (`--states`), one job
(`scontrol show job <id> --json` from 23.02, `squeue --json --jobs` before),
never every finished job it still holds. 22.05's `squeue --json` ignores its
filters and prints everything; the answer is filtered here. The JSON is read by
`slurm_json.py`, per layout.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from .base import SchedulerError
from .slurm_history import ControllerConfig, History, HistoryUnavailable, find_history
from .slurm_jobs import state_of
from .slurm_json import JobRecord, read_document

# squeue --states names for every active state (24.11 has no "active" shorthand).
ACTIVE_FILTER = (
    "pending,running,suspended,completing,configuring,resizing,requeued,requeue_fed,"
    "requeue_hold,resv_del_hold,signaling,stage_out,stopped"
)
FILTERS_HONOURED = (23, 2)  # 22.05's squeue --json ignores --states and --jobs
SCONTROL_JSON = (23, 2)  # scontrol show job --json exists from 23.02
FORGOTTEN = "Slurm forgot this job before its end was seen, and"
CLIENT_VERSION = re.compile(r"(\d+)\.(\d+)")


class SlurmClient:
    def __init__(
        self,
        prefix: Sequence[str],
        command_env: dict[str, str],
        timeout_s: float,
        jobcomp_log: Path | None,
    ) -> None:
        self._prefix = list(prefix)
        self._command_env = command_env
        self.timeout_s = timeout_s
        self._jobcomp_log = jobcomp_log
        self._history_source: History | None = None
        self._client_release: tuple[int, int] | None = None

    def run(
        self, args: Sequence[str], stdin: str | None = None, timeout_s: float | None = None
    ) -> str:
        timeout_s = timeout_s or self.timeout_s
        try:
            done = subprocess.run(
                [*self._prefix, *args],
                input=stdin,
                capture_output=True,
                text=True,
                env=self._command_env,
                timeout=timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise SchedulerError(
                f"{args[0]} not found: install Slurm's client commands (slurm-client) on this"
                " machine or fix PATH / MLOPS_SLURM_COMMAND_PREFIX"
            ) from None
        except subprocess.TimeoutExpired:
            raise SchedulerError(f"{args[0]} did not answer within {timeout_s} s") from None
        if done.returncode != 0:
            detail = done.stderr.strip() or done.stdout.strip() or "no output"
            raise SchedulerError(f"{args[0]} failed (exit {done.returncode}): {detail}")
        return done.stdout

    def active(self, also: Sequence[str] = ()) -> dict[str, JobRecord]:
        """Every active job by id, plus the jobs `also` names whatever their state.

        One squeue for the active ones; the `also` that are not active cost one more
        (`--jobs`), and those Slurm no longer holds are simply absent."""
        held = self.squeue(f"--states={ACTIVE_FILTER}")
        if self.release() < FILTERS_HONOURED:  # the answer holds every job slurmctld holds
            return {i: r for i, r in held.items() if state_of(r).active or i in also}
        rest = [job_id for job_id in also if job_id not in held]
        return {
            **held,
            **(self.squeue("--states=all", f"--jobs={','.join(rest)}") if rest else {}),
        }

    def held(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """These jobs as slurmctld holds them now; those it forgot (or never had) are absent."""
        if len(job_ids) == 1 and self.release() >= SCONTROL_JSON:
            argv = ["scontrol", "show", "job", job_ids[0], "--json"]
            records = self._json(argv, "scontrol show job --json")
        else:
            records = self.squeue("--states=all", f"--jobs={','.join(job_ids)}")
        return {job_id: records[job_id] for job_id in job_ids if job_id in records}

    def squeue(
        self, *filters: str, where: Callable[[str, str], bool] | None = None
    ) -> dict[str, JobRecord]:
        return self._json(["squeue", "--json", *filters], "squeue --json", where)

    def _json(
        self,
        args: Sequence[str],
        command: str,
        where: Callable[[str, str], bool] | None = None,
    ) -> dict[str, JobRecord]:
        try:
            text = self.run(args)
        except SchedulerError as exc:
            if "Invalid job id" in str(exc):  # 23.x when asked for a job it forgot
                return {}
            raise
        return read_document(text, command).jobs(where)

    def remembered(self, job_ids: Sequence[str]) -> tuple[dict[str, JobRecord], set[str]]:
        """How these forgotten jobs ended, and which answers are only for now.

        A job the history does not know ends as UNKNOWN for good; when the history
        cannot be read just now, the UNKNOWN is not stored and is asked again later."""
        if not job_ids:
            return {}, set()
        history = self.history()
        try:
            found = history.finished(job_ids)
        except HistoryUnavailable as exc:
            reason = f"{FORGOTTEN} {exc}"
            return {i: JobRecord("UNKNOWN", reason=reason) for i in job_ids}, set(job_ids)
        unknown = JobRecord("UNKNOWN", reason=f"{FORGOTTEN} {history.description} lacks it")
        return {i: found.get(i, unknown) for i in job_ids}, set()

    def history(self) -> History:
        if self._history_source is None:
            config = ControllerConfig.parse(self.run(["scontrol", "show", "config"]))
            self._history_source = find_history(config, self.run, self._jobcomp_log)
        return self._history_source

    def release(self) -> tuple[int, int]:
        """The Slurm client's release (its commands and their flags), asked once."""
        if self._client_release is None:
            answer = self.run(["scontrol", "--version"])
            match = CLIENT_VERSION.search(answer)
            if match is None:
                raise SchedulerError(f"scontrol --version gave no release: {answer.strip()!r}")
            self._client_release = (int(match[1]), int(match[2]))
        return self._client_release
