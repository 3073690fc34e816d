"""The Slurm backend: sbatch, squeue, scancel, sinfo and scontrol against a real cluster.

Slurm forgets a job `MinJobAge` seconds (300 by default) after it ends, and
it knows nothing of logical names, attempts or labels. So every submission is
recorded in a small sqlite index (`<state_dir>/aiqu/slurm.sqlite`,
`slurm_index.py`) keyed by the Slurm job id: name, attempt, labels, the spec
(for requeue) and the log path; the final state is stored there the first
time it is seen. A job that
ended and was forgotten before anyone looked is read back from the cluster's
history (`slurm_history.py`: sacct, or a jobcomp log).

Slurm is asked only for what a call needs: active jobs (`--states`), one job
(`scontrol show job <id> --json` from 23.02, `squeue --json --jobs` before),
never every finished job it still holds. 22.05's `squeue --json` ignores its
filters and prints everything; the backend filters that answer itself
(`slurm_cli.py`, Slurm's view through its commands). The JSON is read by
`slurm_json.py`, per layout; a job is put in the shared words by `slurm_jobs.py`.

Jobs submitted outside this skill are listed while active, labelled
`submitted_by=slurm:<user>`, so they can never pass for the agent's own; a
finished one is still found by its id.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from core.skill_env import SkillEnvironment

from ..jobenv import identity_env, job_env, route_env
from .base import Health, Job, Jobs, JobSpec, SchedulerError
from .processes import tail_file
from .slurm_cli import ACTIVE_FILTER as ACTIVE_FILTER  # read here by bench/bench_slurm.py
from .slurm_cli import SlurmClient
from .slurm_index import SlurmIndex
from .slurm_jobs import job_of, state_of
from .slurm_json import JobRecord
from .slurm_tres import requested_gpus
from .spec_checks import check_spec


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
        self._log_dir = (log_dir or Path(state_dir) / "aiqu" / "slurm-logs").resolve()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._partition = partition
        self._cancel_wait = cancel_wait_s
        # Client commands and jobs (sbatch --export=ALL) get the skill's environment
        # minus its private settings; the job's identity travels in the batch script.
        self._skill_env = env or SkillEnvironment()
        command_env = job_env(self._skill_env, {}, {})
        if slurm_conf:
            command_env["SLURM_CONF"] = slurm_conf
        self._slurm = SlurmClient(command_prefix, command_env, command_timeout_s, jobcomp_log)
        self._index = SlurmIndex(Path(state_dir).resolve() / "aiqu" / "slurm.sqlite")

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
        with self._index.write() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM jobs WHERE name = ?", (spec.name,)
            ).fetchone()
            identity = identity_env("", spec.name, last + 1, spec.labels)
            route = route_env(self._skill_env, spec.name, spec.labels)
            script = _batch_script(spec, {**identity, **route})
            try:
                out = self._slurm.run(args, stdin=script)
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
        row = self._index.row(_checked_id(job_id))
        if row is not None and row["final"]:
            return self._job(job_id, row, JobRecord.stored(json.loads(row["final"])))
        seen = self._slurm.held([job_id]).get(job_id)
        if seen is None and row is None:
            raise self._unknown(job_id)
        if seen is None:
            history, transient = self._slurm.remembered([job_id])
            return self._job(job_id, row, history[job_id], final=not transient)
        return self._job(job_id, row, seen)

    def list(self, *, include_finished: bool = True) -> list[Job]:
        rows = self._index.rows("ORDER BY id DESC" if include_finished else "WHERE final IS NULL")
        unfinished = [str(r["id"]) for r in rows if not r["final"]]
        live = self._slurm.active(also=unfinished if include_finished else ())
        jobs: dict[str, Job] = {}
        gone = [job_id for job_id in unfinished if job_id not in live]
        history, transient = self._slurm.remembered(gone) if include_finished else ({}, set())
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
            if job_id not in jobs and state_of(record).active:
                jobs[job_id] = self._job(job_id, None, record)
        listed = sorted(jobs.values(), key=lambda j: int(j.id), reverse=True)
        return [j for j in listed if include_finished or j.state.active]

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if not job.state.active:
            raise SchedulerError(
                f"job {job_id} already {job.state}; only pending or running jobs can be cancelled"
            )
        self._slurm.run(["scancel", job_id])
        deadline = time.monotonic() + self._cancel_wait
        while (job := self.get(job_id)).state.active and time.monotonic() < deadline:
            time.sleep(0.1)
        return job

    def requeue(self, job_id: str) -> Job:
        row = self._index.row(_checked_id(job_id))
        if row is None:
            if job_id not in self._slurm.held([job_id]):
                raise self._unknown(job_id)
            raise SchedulerError(
                f"job {job_id} was not submitted through aiqu, so its command is unknown;"
                " submit it as a new job instead"
            )
        return self.submit(JobSpec(**json.loads(row["spec"])))

    def logs(self, job_id: str, lines: int = 50) -> str:
        row = self._index.row(_checked_id(job_id))
        if row is not None:
            return tail_file(Path(row["log_path"]), lines)
        seen = self._slurm.held([job_id]).get(job_id)
        if seen is None:
            raise self._unknown(job_id)
        path = seen.stdout.replace("%j", job_id).replace("%x", seen.name)
        return tail_file(Path(path.replace("%u", seen.user)), lines)

    def gpu_total(self) -> int:
        args = ["sinfo", "--noheader", "--Node", "--format=%N|%G"]
        args += [f"--partition={self._partition}"] if self._partition else []
        lines = self._slurm.run(args).splitlines()
        per_node = dict(line.split("|", 1) for line in lines if "|" in line)
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
        rows = {str(r["id"]): r for r in self._index.rows("WHERE final IS NULL")}
        ended = "WHERE final IS NOT NULL AND json_extract(final, '$.ended_at') >= ?"
        rows.update((str(r["id"]), r) for r in self._index.rows(ended, (ended_since,)))
        rows.update((str(r["id"]), r) for r in self._index.rows_of(wanted))

        def read(job_id: str, name: str) -> bool:
            return job_id in rows or job_id in wanted or others is None or others(name)

        held = self._slurm.squeue("--states=all", where=read)
        jobs: Jobs = []
        for job_id, record in held.items():
            if state_of(record).active or job_id in wanted or (record.ended_at or 0) >= ended_since:
                # Not in `rows`: someone else's, or an own job that ended long ago.
                row = rows.get(job_id) or self._index.row(int(job_id))
                jobs.append(self._job(job_id, row, record))
        for job_id, row in rows.items():
            if job_id not in held and row["final"]:
                record = JobRecord.stored(json.loads(row["final"]))
                if job_id in wanted or (record.ended_at or 0) >= ended_since:
                    jobs.append(self._job(job_id, row, record))
        unseen = [i for i, r in rows.items() if i not in held and not r["final"]]
        unseen += [i for i in wanted if i not in held and i not in rows]
        history, transient = self._slurm.remembered(unseen)
        for job_id in unseen:
            record = history[job_id]
            jobs.append(self._job(job_id, rows.get(job_id), record, final=job_id not in transient))
        return jobs

    def health(self) -> Health:
        """Is slurmctld up; which Slurm; where finished jobs are read back from."""
        try:
            ping_s = min(self._slurm.timeout_s, 10)
            answer = self._slurm.run(["scontrol", "ping"], timeout_s=ping_s).strip()
            release = self._slurm.run(["scontrol", "--version"]).strip()
            history = self._slurm.history().description
        except SchedulerError as exc:
            return Health(False, str(exc))
        return Health(" is UP" in answer, f"{answer}; {release}; finished-job history: {history}")

    def _job(
        self, job_id: str, row: sqlite3.Row | None, seen: JobRecord, final: bool = True
    ) -> Job:
        """The job in the shared words; an own job's end is stored the first time it is seen
        (unless `final` is False: an answer only for now)."""
        if row is not None and not row["final"] and not state_of(seen).active and final:
            self._index.store_final(row["id"], seen)
        return job_of(job_id, row, seen)

    # -- helpers ---------------------------------------------------------------

    def _unknown(self, job_id: str) -> SchedulerError:
        recent = [str(r["id"]) for r in self._index.rows("ORDER BY id DESC LIMIT 10")]
        return SchedulerError(
            f"unknown Slurm job id {job_id!r}; recent ids: {', '.join(recent) or 'none yet'}"
        )

    def _explained(self, exc: SchedulerError) -> SchedulerError:
        if "partition" not in str(exc).lower():
            return exc
        names = sorted(set(self._slurm.run(["sinfo", "--noheader", "--format=%R"]).split()))
        return SchedulerError(f"{exc}; partitions on this cluster: {', '.join(names)}")


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
