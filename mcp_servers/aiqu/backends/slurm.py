"""The Slurm backend: sbatch, squeue, scancel, sinfo and scontrol against a real cluster.

Slurm forgets a job `MinJobAge` seconds (300 by default) after it ends, and
it knows nothing of logical names, attempts or labels. So every submission is
recorded in a small sqlite index (`<state_dir>/aiqu/slurm.sqlite`) keyed by
the Slurm job id: name, attempt, labels, the spec (for requeue) and the log
path; the final state is stored there the first time it is seen. A job that
ended and was forgotten before anyone looked is read back from the jobcomp
text log when the cluster writes one (`JobCompType=jobcomp/filetxt`).

Jobs submitted outside this skill are listed too, labelled
`submitted_by=slurm:<user>`, so they can never pass for the agent's own.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from core.skill_env import SkillEnvironment
from core.sqlite import connect, immediate

from ..jobenv import identity_env, job_env
from .base import Health, Job, JobSpec, JobState, SchedulerError
from .processes import tail_file

Record = dict[str, Any]  # what we keep of one job as Slurm last described it
Rows = list[sqlite3.Row]

_RAW_STATES = {
    JobState.PENDING: "PENDING REQUEUED REQUEUE_HOLD REQUEUE_FED RESV_DEL_HOLD SUSPENDED",
    JobState.STARTING: "CONFIGURING POWER_UP_NODE",
    JobState.RUNNING: "RUNNING COMPLETING SIGNALING STAGE_OUT RESIZING STOPPED",
    JobState.SUCCEEDED: "COMPLETED",
    JobState.FAILED: "FAILED TIMEOUT NODE_FAIL OUT_OF_MEMORY BOOT_FAIL DEADLINE PREEMPTED"
    " SPECIAL_EXIT REVOKED UNKNOWN",
    JobState.CANCELLED: "CANCELLED",
}
STATES = {raw: state for state, names in _RAW_STATES.items() for raw in names.split()}
# Stored as final like any other: neither squeue nor jobcomp will know more later.
FORGOTTEN: Record = {
    "raw_state": "UNKNOWN",
    "reason": "Slurm forgot this job before its end was seen, and no jobcomp text log is"
    " readable here",
}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GPU_COUNT = re.compile(r"gpu(?::[^:,()]+)?[:=](\d+)")
JOBCOMP_LINE = re.compile(
    r"^JobId=(?P<id>\d+) .*? JobState=(?P<state>\S+) Partition=(?P<queue>\S*) .*?"
    r"StartTime=(?P<start>\S+) EndTime=(?P<end>\S+) .* ExitCode=(?P<code>\d+):(?P<signal>\d+)"
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,  -- the Slurm job id
    name TEXT NOT NULL, attempt INTEGER NOT NULL, labels TEXT NOT NULL, spec TEXT NOT NULL,
    log_path TEXT NOT NULL, submitted_at REAL NOT NULL,
    final TEXT  -- JSON of the last state once the job ended
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs(name);
"""


class SlurmScheduler:
    def __init__(
        self,
        state_dir: Path,
        *,
        slurm_conf: str | None = None,
        command_prefix: Sequence[str] = (),
        partition: str | None = None,
        log_dir: Path | None = None,
        env: SkillEnvironment | None = None,
        command_timeout_s: float = 30.0,
        cancel_wait_s: float = 15.0,
    ) -> None:
        self._index_path = Path(state_dir).resolve() / "aiqu" / "slurm.sqlite"
        self._log_dir = (log_dir or Path(state_dir) / "aiqu" / "slurm-logs").resolve()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._prefix = list(command_prefix)
        self._partition = partition
        self._timeout = command_timeout_s
        self._cancel_wait = cancel_wait_s
        # Client commands and jobs (sbatch --export=ALL) get the skill's environment
        # minus its private settings; the job's identity travels in the batch script.
        self._command_env = job_env(env or SkillEnvironment(), {}, {})
        if slurm_conf:
            self._command_env["SLURM_CONF"] = slurm_conf
        self._index_path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> SlurmScheduler:
        """The backend's own variables travel in the skill environment's `extra`:
        `SLURM_CONF`, `MLOPS_SLURM_COMMAND_PREFIX` (shell words put before every Slurm
        command, e.g. `nsenter --net=/proc/42/ns/net`; empty in production),
        `MLOPS_SLURM_PARTITION` (default: the cluster's), `MLOPS_SLURM_LOG_DIR` (job output,
        must be visible to the compute nodes; default `$MLOPS_STATE_DIR/aiqu/slurm-logs`)."""
        own = env.extra
        log_dir = own.get("MLOPS_SLURM_LOG_DIR")
        return cls(
            env.state,
            slurm_conf=own.get("SLURM_CONF") or None,
            command_prefix=shlex.split(own.get("MLOPS_SLURM_COMMAND_PREFIX", "")),
            partition=own.get("MLOPS_SLURM_PARTITION") or None,
            log_dir=Path(log_dir) if log_dir else None,
            env=env,
        )

    # -- Scheduler -------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        _validate(spec)
        queue = spec.queue or self._partition
        args = ["sbatch", "--parsable", "--export=ALL", f"--job-name={spec.name}"]
        args += [f"--output={self._log_dir}/%j.out"]
        args += [f"--partition={queue}"] if queue else []
        args += [f"--gres=gpu:{spec.gpus}"] if spec.gpus else []
        args += [f"--chdir={spec.workdir}"] if spec.workdir else []
        args += [f"--time={spec.time_limit_min}"] if spec.time_limit_min else []
        # One writer at a time across processes, so two submissions of a name never
        # get the same attempt; a failed sbatch rolls the transaction back.
        with self._write() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM jobs WHERE name = ?", (spec.name,)
            ).fetchone()
            script = _batch_script(spec, identity_env("", spec.name, last + 1, spec.labels))
            try:
                out = self._run(args, stdin=script)
            except SchedulerError as exc:
                raise self._explained(exc) from None
            job_id = int(out.split(";")[0])
            log_path = str(self._log_dir / f"{job_id}.out")
            conn.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (job_id, spec.name, last + 1, json.dumps(spec.labels), json.dumps(asdict(spec)),
                 log_path, time.time()),
            )  # fmt: skip
        return self.get(str(job_id))

    def get(self, job_id: str) -> Job:
        row = self._row(_checked_id(job_id))
        live = {} if row is not None and row["final"] else self._squeue()
        if row is None and job_id not in live:
            raise self._unknown(job_id)
        if row is None:
            return self._job(job_id, None, live[job_id])
        return self._job(job_id, row, self._last_seen([row], live)[job_id])

    def list(self, *, include_finished: bool = True) -> list[Job]:
        live = self._squeue()
        rows = self._rows("ORDER BY id DESC")
        seen = self._last_seen(rows, live)
        jobs = {
            str(row["id"]): self._job(str(row["id"]), row, seen[str(row["id"])]) for row in rows
        }
        for job_id, record in live.items():
            jobs.setdefault(job_id, self._job(job_id, None, record))
        listed = sorted(jobs.values(), key=lambda j: int(j.id), reverse=True)
        return [j for j in listed if include_finished or j.state.active]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if not job.state.active:
            raise SchedulerError(
                f"job {job_id} already {job.state}; only pending or running jobs can be cancelled"
            )
        self._run(["scancel", job_id])
        deadline = time.monotonic() + self._cancel_wait
        while (job := self.get(job_id)).state.active and time.monotonic() < deadline:
            time.sleep(0.1)
        return job

    def requeue(self, job_id: str) -> Job:
        row = self._row(_checked_id(job_id))
        if row is None:
            if job_id not in self._squeue():
                raise self._unknown(job_id)
            raise SchedulerError(
                f"job {job_id} was not submitted through aiqu, so its command is unknown;"
                " submit it as a new job instead"
            )
        return self.submit(JobSpec(**json.loads(row["spec"])))

    def logs(self, job_id: str, lines: int = 50) -> str:
        row = self._row(_checked_id(job_id))
        if row is not None:
            return tail_file(Path(row["log_path"]), lines)
        seen = self._squeue().get(job_id)
        if seen is None:
            raise self._unknown(job_id)
        path = seen["stdout"].replace("%j", job_id).replace("%x", seen["name"])
        return tail_file(Path(path.replace("%u", seen["user"])), lines)

    def gpu_total(self) -> int:
        args = ["sinfo", "--noheader", "--Node", "--format=%N|%G"]
        args += [f"--partition={self._partition}"] if self._partition else []
        per_node = dict(line.split("|", 1) for line in self._run(args).splitlines() if "|" in line)
        return sum(_gpu_count(gres) for gres in per_node.values())

    def health(self) -> Health:
        try:
            answer = self._run(["scontrol", "ping"], timeout_s=min(self._timeout, 10)).strip()
        except SchedulerError as exc:
            return Health(False, str(exc))
        return Health(" is UP" in answer, answer)

    # -- Slurm's view ----------------------------------------------------------

    def _squeue(self) -> dict[str, Record]:
        """Every job slurmctld still holds (finished ones for MinJobAge), by id."""
        text = self._run(["squeue", "--json"])
        try:
            records = json.loads(text)["jobs"]
        except (ValueError, KeyError) as exc:
            raise SchedulerError(f"squeue --json gave unreadable output: {exc}") from None
        return {str(r["job_id"]): _observed(r) for r in records}

    def _jobcomp(self) -> dict[str, Record]:
        """Final states from the jobcomp text log, when the cluster writes one we can read."""
        lines = self._run(["scontrol", "show", "config"]).splitlines()
        config = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in lines)}
        if config.get("JobCompType") != "jobcomp/filetxt":
            return {}
        try:
            text = Path(config.get("JobCompLoc", "")).read_text(errors="replace")
        except OSError:
            return {}
        return {m["id"]: _completed(m) for m in map(JOBCOMP_LINE.match, text.splitlines()) if m}

    def _last_seen(self, rows: Rows, live: dict[str, Record]) -> dict[str, Record]:
        """The latest record of each indexed job: stored final, squeue, jobcomp, or UNKNOWN."""
        seen = {str(r["id"]): json.loads(r["final"]) for r in rows if r["final"]}
        seen.update({str(r["id"]): live[str(r["id"])] for r in rows if str(r["id"]) in live})
        forgotten = [str(r["id"]) for r in rows if str(r["id"]) not in seen]
        completed = self._jobcomp() if forgotten else {}
        for job_id in forgotten:
            seen[job_id] = completed.get(job_id, FORGOTTEN)
        return seen

    def _job(self, job_id: str, row: sqlite3.Row | None, seen: Record) -> Job:
        state = STATES.get(seen["raw_state"], JobState.PENDING)
        if row is not None and not row["final"] and not state.active:
            with self._write() as conn:
                conn.execute(
                    "UPDATE jobs SET final = ? WHERE id = ?", (json.dumps(seen), row["id"])
                )
        if row is None:  # submitted outside aiqu: what Slurm says is all there is
            name, attempt, spec = seen["name"], 1, None
            labels, submitted_at = {"submitted_by": f"slurm:{seen['user']}"}, seen["submitted_at"]
        else:
            name, attempt, spec = row["name"], row["attempt"], JobSpec(**json.loads(row["spec"]))
            labels, submitted_at = json.loads(row["labels"]), row["submitted_at"]
        return Job(
            id=job_id,
            name=name,
            attempt=attempt,
            state=state,
            raw_state=seen["raw_state"],
            reason=seen.get("reason"),
            gpus=spec.gpus if spec is not None else seen.get("gpus", 0),
            queue=seen.get("queue") or (spec.queue if spec is not None else None),
            labels=labels,
            submitted_at=submitted_at,
            # A pending job's start_time is Slurm's forecast, not a start.
            started_at=None if state is JobState.PENDING else seen.get("started_at"),
            ended_at=None if state.active else seen.get("ended_at"),
            exit_code=None if state.active else seen.get("exit_code"),
            spec=spec,
        )

    # -- plumbing --------------------------------------------------------------

    def _run(
        self, args: Sequence[str], stdin: str | None = None, timeout_s: float | None = None
    ) -> str:
        timeout_s = timeout_s or self._timeout
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

    def _unknown(self, job_id: str) -> SchedulerError:
        recent = [str(r["id"]) for r in self._rows("ORDER BY id DESC LIMIT 10")]
        return SchedulerError(
            f"unknown Slurm job id {job_id!r}; recent ids: {', '.join(recent) or 'none yet'}"
        )

    def _explained(self, exc: SchedulerError) -> SchedulerError:
        if "partition" not in str(exc).lower():
            return exc
        names = sorted(set(self._run(["sinfo", "--noheader", "--format=%R"]).split()))
        return SchedulerError(f"{exc}; partitions on this cluster: {', '.join(names)}")

    def _connect(self) -> sqlite3.Connection:
        return connect(self._index_path, synchronous="NORMAL")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            with immediate(conn):
                yield conn
        finally:
            conn.close()

    def _rows(self, tail: str, params: tuple[Any, ...] = ()) -> Rows:
        conn = self._connect()
        try:
            return conn.execute(f"SELECT * FROM jobs {tail}", params).fetchall()
        finally:
            conn.close()

    def _row(self, job_id: int) -> sqlite3.Row | None:
        rows = self._rows("WHERE id = ?", (job_id,))
        return rows[0] if rows else None


def _validate(spec: JobSpec) -> None:
    if not spec.name.strip() or "\n" in spec.name:
        raise SchedulerError(
            "job name must be one non-empty line, e.g. 'customer-b/pcb-inspect-v2'"
        )
    if not spec.command or not all(isinstance(a, str) for a in spec.command):
        raise SchedulerError("command must be a non-empty list of strings (an argv)")
    if spec.gpus < 0:
        raise SchedulerError(f"gpus must be 0 or more, got {spec.gpus}")
    if spec.time_limit_min is not None and spec.time_limit_min <= 0:
        raise SchedulerError("time_limit_min must be a positive number of minutes, or None")
    bad = [k for k in spec.env if not ENV_NAME.fullmatch(k)]
    if bad:
        raise SchedulerError(f"env names must look like MY_VAR (letters, digits, _): {bad}")


def _checked_id(job_id: str) -> int:
    # Digits only: the id reaches scancel's argv, where '-...' would be read as a flag.
    if not job_id.isdigit():
        raise SchedulerError(f"Slurm job ids are whole numbers, e.g. '4242'; got {job_id!r}")
    return int(job_id)


def _batch_script(spec: JobSpec, identity: Mapping[str, str]) -> str:
    """A script that sets the job's env and execs its argv (sbatch reads it from stdin)."""
    env = {**spec.env, **{k: v for k, v in identity.items() if k != "MLOPS_JOB_ID"}}
    exports = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    # The Slurm id exists only once sbatch answered; the job reads it from Slurm.
    exports.append('export MLOPS_JOB_ID="$SLURM_JOB_ID"')
    return "\n".join(["#!/bin/sh", *exports, f"exec {shlex.join(spec.command)}", ""])


def _observed(r: dict[str, Any]) -> Record:
    """What we keep of one `squeue --json` job record (Slurm 22.05 layout)."""
    started, ended = r.get("start_time") or None, r.get("end_time") or None
    tres = r.get("tres_per_job") or r.get("tres_per_node") or ""
    return {
        "raw_state": r["job_state"],
        "reason": None if r.get("state_reason") in (None, "", "None") else r["state_reason"],
        "name": r.get("name", ""),
        "user": r.get("user_name", ""),
        "queue": r.get("partition") or None,
        "gpus": _gpu_count(tres) * (1 if r.get("tres_per_job") else r.get("node_count") or 1),
        "submitted_at": float(r.get("submit_time") or 0),
        "started_at": float(started) if started else None,
        "ended_at": float(ended) if ended else None,
        "exit_code": _exit_code(r.get("exit_code")),
        "stdout": r.get("standard_output") or "",
    }


def _completed(m: re.Match[str]) -> Record:
    """A final state from one jobcomp/filetxt line (times in the controller's local time)."""
    return {
        "raw_state": m["state"].split()[0],
        "reason": None,
        "queue": m["queue"] or None,
        "started_at": _local_time(m["start"]),
        "ended_at": _local_time(m["end"]),
        "exit_code": -int(m["signal"]) if int(m["signal"]) else int(m["code"]),
    }


def _local_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None  # "Unknown", "None"


def _exit_code(status: object) -> int | None:
    """A wait(2) status as a process return code: negative for a signal, as subprocess does."""
    if not isinstance(status, int):
        return None
    return -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF


def _gpu_count(gres: str) -> int:
    return sum(int(n) for n in GPU_COUNT.findall(gres))
