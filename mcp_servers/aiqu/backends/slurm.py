"""The Slurm backend: sbatch, squeue, scancel, sinfo and scontrol against a real cluster.

Slurm forgets a job `MinJobAge` seconds (300 by default) after it ends, and
it knows nothing of logical names, attempts or labels. So every submission is
recorded in a small sqlite index (`<state_dir>/aiqu/slurm.sqlite`) keyed by
the Slurm job id: name, attempt, labels, the spec (for requeue) and the log
path; the final state is stored there the first time it is seen. A job that
ended and was forgotten before anyone looked is read back from the cluster's
history (`slurm_history.py`: sacct, or a jobcomp log).

Slurm is asked only for what a call needs: active jobs (`--states`), one job
(`scontrol show job <id> --json` from 23.02, `squeue --json --jobs` before),
never every finished job it still holds. 22.05's `squeue --json` ignores its
filters and prints everything; the backend filters that answer itself. The
JSON is read by `slurm_json.py`, per layout.

Jobs submitted outside this skill are listed while active, labelled
`submitted_by=slurm:<user>`, so they can never pass for the agent's own; a
finished one is still found by its id.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.skill_env import SkillEnvironment
from core.sqlite import connect, immediate

from ..jobenv import identity_env, job_env, route_env
from .base import Health, Job, Jobs, JobSpec, JobState, SchedulerError
from .processes import tail_file
from .slurm_history import ControllerConfig, History, HistoryUnavailable, find_history
from .slurm_json import JobRecord, read_document
from .slurm_tres import requested_gpus
from .spec_checks import check_spec

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
# squeue --states names for every active state (24.11 has no "active" shorthand).
ACTIVE_FILTER = (
    "pending,running,suspended,completing,configuring,resizing,requeued,requeue_fed,"
    "requeue_hold,resv_del_hold,signaling,stage_out,stopped"
)
FILTERS_HONOURED = (23, 2)  # 22.05's squeue --json ignores --states and --jobs
SCONTROL_JSON = (23, 2)  # scontrol show job --json exists from 23.02
FORGOTTEN = "Slurm forgot this job before its end was seen, and"
CLIENT_VERSION = re.compile(r"(\d+)\.(\d+)")
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
        jobcomp_log: Path | None = None,
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
        self._jobcomp_log = jobcomp_log
        self._history_source: History | None = None
        self._client_release: tuple[int, int] | None = None
        # Client commands and jobs (sbatch --export=ALL) get the skill's environment
        # minus its private settings; the job's identity travels in the batch script.
        self._skill_env = env or SkillEnvironment()
        self._command_env = job_env(self._skill_env, {}, {})
        if slurm_conf:
            self._command_env["SLURM_CONF"] = slurm_conf
        self._index_path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    @classmethod
    def from_env(cls, env: SkillEnvironment, *, command_timeout_s: float = 30.0) -> SlurmScheduler:
        """The backend's own variables travel in the skill environment's `extra`:
        `SLURM_CONF`, `MLOPS_SLURM_COMMAND_PREFIX` (shell words put before every Slurm
        command, e.g. `nsenter --net=/proc/42/ns/net`; empty in production),
        `MLOPS_SLURM_PARTITION` (default: the cluster's), `MLOPS_SLURM_LOG_DIR` (job output,
        must be visible to the compute nodes; default `$MLOPS_STATE_DIR/aiqu/slurm-logs`),
        `MLOPS_SLURM_JOBCOMP_LOG` (the job completion log as this machine sees it, when that
        is not the controller's JobCompLoc; see slurm_history.py)."""
        own = env.extra
        log_dir = own.get("MLOPS_SLURM_LOG_DIR")
        jobcomp_log = own.get("MLOPS_SLURM_JOBCOMP_LOG")
        return cls(
            env.state,
            slurm_conf=own.get("SLURM_CONF") or None,
            command_prefix=shlex.split(own.get("MLOPS_SLURM_COMMAND_PREFIX", "")),
            partition=own.get("MLOPS_SLURM_PARTITION") or None,
            log_dir=Path(log_dir) if log_dir else None,
            env=env,
            jobcomp_log=Path(jobcomp_log) if jobcomp_log else None,
            command_timeout_s=command_timeout_s,
        )

    # -- Scheduler -------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        check_spec(spec)
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
            identity = identity_env("", spec.name, last + 1, spec.labels)
            route = route_env(self._skill_env, spec.name, spec.labels)
            script = _batch_script(spec, {**identity, **route})
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
        if row is not None and row["final"]:
            return self._job(job_id, row, JobRecord.stored(json.loads(row["final"])))
        seen = self._held([job_id]).get(job_id)
        if seen is None and row is None:
            raise self._unknown(job_id)
        if seen is None:
            history, transient = self._remembered([job_id])
            return self._job(job_id, row, history[job_id], final=not transient)
        return self._job(job_id, row, seen)

    def list(self, *, include_finished: bool = True) -> list[Job]:
        rows = self._rows("ORDER BY id DESC" if include_finished else "WHERE final IS NULL")
        unfinished = [str(r["id"]) for r in rows if not r["final"]]
        live = self._active(also=unfinished if include_finished else ())
        jobs: dict[str, Job] = {}
        gone = [job_id for job_id in unfinished if job_id not in live]
        history, transient = self._remembered(gone) if include_finished else ({}, set())
        for row in rows:
            job_id = str(row["id"])
            if row["final"]:
                jobs[job_id] = self._job(job_id, row, JobRecord.stored(json.loads(row["final"])))
            elif job_id in live:
                jobs[job_id] = self._job(job_id, row, live[job_id])
            elif job_id in history:
                jobs[job_id] = self._job(
                    job_id, row, history[job_id], final=job_id not in transient
                )
        for job_id, record in live.items():
            if job_id not in jobs and _state(record).active:
                jobs[job_id] = self._job(job_id, None, record)
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
            if job_id not in self._held([job_id]):
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
        seen = self._held([job_id]).get(job_id)
        if seen is None:
            raise self._unknown(job_id)
        path = seen.stdout.replace("%j", job_id).replace("%x", seen.name)
        return tail_file(Path(path.replace("%u", seen.user)), lines)

    def gpu_total(self) -> int:
        args = ["sinfo", "--noheader", "--Node", "--format=%N|%G"]
        args += [f"--partition={self._partition}"] if self._partition else []
        per_node = dict(line.split("|", 1) for line in self._run(args).splitlines() if "|" in line)
        return sum(requested_gpus(gres) for gres in per_node.values())

    def snapshot(
        self,
        job_ids: Collection[str] = (),
        ended_since: float = 0.0,
        others: Callable[[str], bool] | None = None,
    ) -> Jobs:
        """One `squeue --json --states=all` (every job slurmctld holds: active, and ended
        within MinJobAge) for the watcher's pass; of other people's jobs only those
        `others` names are read past their name. Own jobs it no longer holds come from
        the index; those whose end was never seen, and asked-for ids it forgot, from the
        history (one more call, only in a pass where such a job vanished)."""
        wanted = {i for i in job_ids if i.isdigit()}
        rows = {str(r["id"]): r for r in self._rows("WHERE final IS NULL")}
        ended = "WHERE final IS NOT NULL AND json_extract(final, '$.ended_at') >= ?"
        rows.update((str(r["id"]), r) for r in self._rows(ended, (ended_since,)))
        rows.update((str(r["id"]), r) for r in self._rows_of(wanted))

        def read(job_id: str, name: str) -> bool:
            return job_id in rows or job_id in wanted or others is None or others(name)

        held = self._squeue("--states=all", where=read)
        jobs: Jobs = []
        for job_id, record in held.items():
            if _state(record).active or job_id in wanted or (record.ended_at or 0) >= ended_since:
                # Not in `rows`: someone else's, or an own job that ended long ago.
                row = rows.get(job_id) or self._row(int(job_id))
                jobs.append(self._job(job_id, row, record))
        for job_id, row in rows.items():
            if job_id not in held and row["final"]:
                record = JobRecord.stored(json.loads(row["final"]))
                if job_id in wanted or (record.ended_at or 0) >= ended_since:
                    jobs.append(self._job(job_id, row, record))
        unseen = [i for i, r in rows.items() if i not in held and not r["final"]]
        unseen += [i for i in wanted if i not in held and i not in rows]
        history, transient = self._remembered(unseen)
        for job_id in unseen:
            record = history[job_id]
            jobs.append(self._job(job_id, rows.get(job_id), record, final=job_id not in transient))
        return jobs

    def health(self) -> Health:
        """Is slurmctld up; which Slurm; where finished jobs are read back from."""
        try:
            answer = self._run(["scontrol", "ping"], timeout_s=min(self._timeout, 10)).strip()
            release = self._run(["scontrol", "--version"]).strip()
            history = self._history().description
        except SchedulerError as exc:
            return Health(False, str(exc))
        return Health(" is UP" in answer, f"{answer}; {release}; finished-job history: {history}")

    # -- Slurm's view ----------------------------------------------------------

    def _active(self, also: Sequence[str] = ()) -> dict[str, JobRecord]:
        """Every active job by id, plus the jobs `also` names whatever their state.

        One squeue for the active ones; the `also` that are not active cost one more
        (`--jobs`), and those Slurm no longer holds are simply absent."""
        held = self._squeue(f"--states={ACTIVE_FILTER}")
        if self._client() < FILTERS_HONOURED:  # the answer holds every job slurmctld holds
            return {i: r for i, r in held.items() if _state(r).active or i in also}
        rest = [job_id for job_id in also if job_id not in held]
        return {
            **held,
            **(self._squeue("--states=all", f"--jobs={','.join(rest)}") if rest else {}),
        }

    def _held(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """These jobs as slurmctld holds them now; those it forgot (or never had) are absent."""
        if len(job_ids) == 1 and self._client() >= SCONTROL_JSON:
            argv = ["scontrol", "show", "job", job_ids[0], "--json"]
            records = self._json(argv, "scontrol show job --json")
        else:
            records = self._squeue("--states=all", f"--jobs={','.join(job_ids)}")
        return {job_id: records[job_id] for job_id in job_ids if job_id in records}

    def _squeue(
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
            text = self._run(args)
        except SchedulerError as exc:
            if "Invalid job id" in str(exc):  # 23.x when asked for a job it forgot
                return {}
            raise
        return read_document(text, command).jobs(where)

    def _remembered(self, job_ids: Sequence[str]) -> tuple[dict[str, JobRecord], set[str]]:
        """How these forgotten jobs ended, and which answers are only for now.

        A job the history does not know ends as UNKNOWN for good; when the history
        cannot be read just now, the UNKNOWN is not stored and is asked again later."""
        if not job_ids:
            return {}, set()
        history = self._history()
        try:
            found = history.finished(job_ids)
        except HistoryUnavailable as exc:
            reason = f"{FORGOTTEN} {exc}"
            return {i: JobRecord("UNKNOWN", reason=reason) for i in job_ids}, set(job_ids)
        unknown = JobRecord("UNKNOWN", reason=f"{FORGOTTEN} {history.description} lacks it")
        return {i: found.get(i, unknown) for i in job_ids}, set()

    def _history(self) -> History:
        if self._history_source is None:
            config = ControllerConfig.parse(self._run(["scontrol", "show", "config"]))
            self._history_source = find_history(config, self._run, self._jobcomp_log)
        return self._history_source

    def _client(self) -> tuple[int, int]:
        """The Slurm client's release (its commands and their flags), asked once."""
        if self._client_release is None:
            answer = self._run(["scontrol", "--version"])
            match = CLIENT_VERSION.search(answer)
            if match is None:
                raise SchedulerError(f"scontrol --version gave no release: {answer.strip()!r}")
            self._client_release = (int(match[1]), int(match[2]))
        return self._client_release

    def _job(
        self, job_id: str, row: sqlite3.Row | None, seen: JobRecord, final: bool = True
    ) -> Job:
        state = _state(seen)
        if row is not None and not row["final"] and not state.active and final:
            with self._write() as conn:
                conn.execute(
                    "UPDATE jobs SET final = ? WHERE id = ?", (json.dumps(asdict(seen)), row["id"])
                )
        if row is None:  # submitted outside aiqu: what Slurm says is all there is
            name, attempt, spec = seen.name, 1, None
            labels, submitted_at = {"submitted_by": f"slurm:{seen.user}"}, seen.submitted_at
        else:
            name, attempt, spec = row["name"], row["attempt"], JobSpec(**json.loads(row["spec"]))
            labels, submitted_at = json.loads(row["labels"]), row["submitted_at"]
        return Job(
            id=job_id,
            name=name,
            attempt=attempt,
            state=state,
            raw_state=seen.raw_state,
            reason=seen.reason,
            gpus=spec.gpus if spec is not None else seen.gpus,
            queue=seen.queue or (spec.queue if spec is not None else None),
            labels=labels,
            submitted_at=submitted_at,
            # A pending job's start_time is Slurm's forecast, not a start.
            started_at=None if state is JobState.PENDING else seen.started_at,
            ended_at=None if state.active else seen.ended_at,
            exit_code=None if state.active else seen.exit_code,
            spec=spec,
            restarts=seen.restarts,
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

    def _rows_of(self, job_ids: Collection[str]) -> Rows:
        ids = sorted(int(i) for i in job_ids)
        found: Rows = []
        for start in range(0, len(ids), 500):  # well under sqlite's limit of variables
            chunk = ids[start : start + 500]
            found += self._rows(f"WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk))
        return found

    def _row(self, job_id: int) -> sqlite3.Row | None:
        rows = self._rows("WHERE id = ?", (job_id,))
        return rows[0] if rows else None


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


def _state(record: JobRecord) -> JobState:
    return STATES.get(record.raw_state, JobState.PENDING)
