"""The local backend: jobs are processes on this machine, queued for its GPUs.

Jobs wait in submission order (strict FIFO: a job too big for the free GPUs
holds the ones behind it, so a big job is never starved) until enough of the
configured GPUs are free; each gets `CUDA_VISIBLE_DEVICES` set to the GPUs it
was given. Every job runs under `runner.py` in its own session, so it outlives
the skill; the runner records the exit code. A job is re-found after a restart
by pid plus process start time; one whose process vanished without an exit
code is marked failed with a reason.

Dispatch is a pass over the state (reap finished jobs, enforce time limits and
stop deadlines, start pending jobs that fit; `local_dispatch.py`) run by a
background thread and at the start of every call.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

from core.clock import now
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.settings import AiquSettings

from . import local_store as store
from .base import Health, Job, Jobs, JobSpec, JobState, SchedulerError
from .local_dispatch import LocalDispatcher
from .processes import LOG_FILE, detect_gpus, signal_group, tail_file

log = logging.getLogger(__name__)

ACTIVE = ("pending", "starting", "running")
ACTIVE_SQL = "('pending', 'starting', 'running')"


class LocalScheduler:
    def __init__(
        self,
        state_dir: Path,
        gpus: int,
        *,
        env: SkillEnvironment | None = None,
        cancel_grace_s: float = 10.0,
        poll_interval_s: float = 1.0,
        clock: Callable[[], float] = now,  # core.clock: virtual in an eval's skills
        launches: bool = True,
    ) -> None:
        """`launches=False`: a client that only queues and reads (`mlops-agent submit`); the
        service's own processes start its jobs, so they get the service's environment."""
        self._root = Path(state_dir) / "aiqu"
        self._jobs_dir = self._root / "jobs"
        self._jobs_dir.mkdir(parents=True, exist_ok=True)
        self._gpus = gpus
        # What jobs inherit (see jobenv); without one, only their identity and GPUs.
        self._env = env or SkillEnvironment()
        self._grace = cancel_grace_s
        self._poll = poll_interval_s
        self._clock = clock
        self._launches = launches
        self._conn = store.connect(self._root / "local.sqlite")
        self._lock = threading.RLock()  # one connection, shared by tool threads and the dispatcher
        self._dispatcher = LocalDispatcher(self._jobs_dir, gpus, self._env, cancel_grace_s, clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> LocalScheduler:
        """`MLOPS_STATE_DIR` (default ./state), `MLOPS_LOCAL_GPUS` (default: nvidia-smi -L)."""
        configured = AiquSettings.from_env(env).local_gpus
        gpus = detect_gpus() if configured is None else configured
        return cls(env.state, gpus, env=env)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Run the dispatcher in a background thread until close()."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="aiqu-dispatch", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop dispatching; running jobs keep running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LocalScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.dispatch()
            except Exception:  # keep dispatching; the next call reports a persistent fault
                log.exception("aiqu dispatch pass failed")

    # -- Scheduler ---------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        spec = validated(spec, self._gpus)
        with self._lock, store.write_tx(self._conn) as c:
            (last,) = c.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM jobs WHERE name = ?", (spec.name,)
            ).fetchone()
            cur = c.execute(
                "INSERT INTO jobs (name, attempt, state, raw_state, gpus, spec, submitted_at)"
                " VALUES (?, ?, 'pending', 'queued', ?, ?, ?)",
                (spec.name, last + 1, spec.gpus, store.spec_to_json(spec), self._clock()),
            )
            job_id = int(cur.lastrowid or 0)
        return self.get(str(job_id))

    def get(self, job_id: str) -> Job:
        self._refresh()
        return store.row_to_job(self._row(job_id))

    def list(self, *, include_finished: bool = True) -> list[Job]:
        self._refresh()
        where = "" if include_finished else f"WHERE state IN {ACTIVE_SQL}"
        with self._lock:
            rows = self._conn.execute(f"SELECT * FROM jobs {where} ORDER BY id DESC").fetchall()
        return [store.row_to_job(r) for r in rows]

    def cancel(self, job_id: str, by: str | None = None) -> Job:
        """SIGTERM to the job's process group; SIGKILL after the grace period. `by`: who
        cancelled it, kept in its reason (`cancelled by bob`)."""
        stop = store.CANCEL + (f" by {by}" if by else "")
        with self._lock, store.write_tx(self._conn) as c:
            row = self._row(job_id)
            if row["state"] == "pending":
                store.update(
                    c,
                    row["id"],
                    state="cancelled",
                    raw_state="cancelled",
                    reason=f"{store.cancelled(stop)} before it started",
                    ended_at=self._clock(),
                )
            elif row["state"] in ACTIVE:
                if not store.is_cancel(row["stop_reason"]):
                    store.update(c, row["id"], stop_reason=stop, stop_sent_at=self._clock())
                    signal_group(row["pid"], row["pid_start"], signal.SIGTERM)
            else:
                raise SchedulerError(
                    f"job {job_id} already {row['state']}; only pending or running jobs can be"
                    " cancelled"
                )
        deadline = time.monotonic() + self._grace + 5
        while (job := self.get(job_id)).state.active and time.monotonic() < deadline:
            time.sleep(0.05)
        return job

    def requeue(self, job_id: str) -> Job:
        spec = store.spec_from_json(self._row(job_id)["spec"])
        return self.submit(spec)

    def logs(self, job_id: str, lines: int = 50) -> str:
        row = self._row(job_id)
        return tail_file(self._jobs_dir / str(row["id"]) / LOG_FILE, lines)

    def gpu_total(self) -> int:
        return self._gpus

    def snapshot(
        self,
        job_ids: Collection[str] = (),
        ended_since: float = 0.0,
        others: Callable[[str], bool] | None = None,
    ) -> Jobs:
        """Active jobs, jobs ended at or after `ended_since`, and `job_ids`: one query.
        (Every job here was submitted through aiqu: `others` has none to choose from.)"""
        self._refresh()
        ids = [int(i) for i in job_ids if i.isdigit()]
        marks = ",".join("?" * len(ids))
        named = f" OR id IN ({marks})" if ids else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM jobs WHERE state IN {ACTIVE_SQL} OR ended_at >= ?{named}",
                (ended_since, *ids),
            ).fetchall()
        return [store.row_to_job(r) for r in rows]

    def health(self) -> Health:
        try:
            jobs = self.list(include_finished=False)
        except (sqlite3.Error, OSError) as exc:
            return Health(False, f"local scheduler state at {self._root} unusable: {exc}")
        running = sum(j.state is JobState.RUNNING for j in jobs)
        return Health(
            True,
            f"local scheduler: {self._gpus} GPU(s), {running} running,"
            f" {len(jobs) - running} pending; state in {self._root}",
        )

    # -- dispatch ------------------------------------------------------------

    def _refresh(self) -> None:
        if self._launches:
            self.dispatch()

    def dispatch(self) -> None:
        """One pass: reap ended jobs, enforce deadlines, start pending jobs that fit."""
        with self._lock, store.write_tx(self._conn) as c:
            self._dispatcher.run_pass(c)
        self._dispatcher.reap()

    # -- helpers -------------------------------------------------------------

    def _row(self, job_id: str) -> sqlite3.Row:
        with self._lock:
            row = None
            if job_id.isdigit():
                row = self._conn.execute(
                    "SELECT * FROM jobs WHERE id = ?", (int(job_id),)
                ).fetchone()
            if row is None:
                recent = [
                    str(r[0])
                    for r in self._conn.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT 10")
                ]
                raise SchedulerError(
                    f"unknown job id {job_id!r}; recent ids: {', '.join(recent) or 'none yet'}"
                )
            return row


def validated(spec: JobSpec, gpus: int) -> JobSpec:
    """The spec as it will run (its workdir resolved), or the reason it cannot run here."""
    if not spec.name.strip():
        raise SchedulerError("job name must not be empty, e.g. 'customer-b/pcb-inspect-v2'")
    if not spec.command or not all(isinstance(a, str) for a in spec.command):
        raise SchedulerError("command must be a non-empty list of strings (an argv)")
    if spec.queue not in (None, store.LOCAL_QUEUE):
        raise SchedulerError(f"unknown queue {spec.queue!r}; the local backend has one: 'local'")
    if not 0 <= spec.gpus <= gpus:
        raise SchedulerError(
            f"job asks for {spec.gpus} GPU(s); this machine has {gpus} (MLOPS_LOCAL_GPUS)"
        )
    if spec.time_limit_min is not None and spec.time_limit_min <= 0:
        raise SchedulerError("time_limit_min must be a positive number of minutes, or None")
    workdir = Path(spec.workdir or os.getcwd()).resolve()
    if not workdir.is_dir():
        raise SchedulerError(f"workdir {workdir} is not a directory")
    return replace(spec, workdir=str(workdir))
