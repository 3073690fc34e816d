"""The local backend's dispatch pass: reap ended jobs, enforce time limits and stop
deadlines, start pending jobs that fit the free GPUs (strict FIFO).

It works inside the scheduler's write transaction on the shared state (local.py
holds the connection and its lock); it owns the runner processes it started.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from core.lifetime import process_start_time
from core.skill_env import SkillEnvironment

from ..jobenv import identity_env, job_env, route_env
from . import local_store as store
from .processes import is_alive, signal_group, spawn_runner
from .runner import EXIT_CODE_FILE


class LocalDispatcher:
    def __init__(
        self,
        jobs_dir: Path,
        gpus: int,
        env: SkillEnvironment,
        cancel_grace_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._jobs_dir = jobs_dir
        self._gpus = gpus
        self._env = env
        self._grace = cancel_grace_s
        self._clock = clock
        self._children: list[subprocess.Popen[bytes]] = []

    def run_pass(self, c: sqlite3.Connection) -> None:
        """One pass, inside the caller's write transaction on `c`."""
        now = self._clock()
        busy: set[int] = set()
        running = c.execute("SELECT * FROM jobs WHERE state IN ('starting', 'running')")
        for row in running.fetchall():
            if self._check_running(c, row, now):
                busy.update(json.loads(row["gpu_ids"] or "[]"))
        blocked_by: int | None = None
        pending = c.execute("SELECT * FROM jobs WHERE state = 'pending' ORDER BY id")
        for row in pending.fetchall():
            free = [i for i in range(self._gpus) if i not in busy]
            if blocked_by is None and row["gpus"] <= len(free):
                busy.update(free[: row["gpus"]])
                self._launch(c, row, free[: row["gpus"]], now)
                continue
            reason = (
                f"queued behind job {blocked_by}"
                if blocked_by is not None
                else f"needs {row['gpus']} GPU(s), {len(free)} of {self._gpus} free"
            )
            blocked_by = blocked_by or row["id"]
            if row["reason"] != reason:
                store.update(c, row["id"], reason=reason)

    def reap(self) -> None:
        """Reap our own finished runners so they do not linger as zombies."""
        self._children = [p for p in self._children if p.poll() is None]

    def _check_running(self, c: sqlite3.Connection, row: sqlite3.Row, now: float) -> bool:
        """True while the job's process lives; otherwise record how it ended."""
        exit_file = self._jobs_dir / str(row["id"]) / EXIT_CODE_FILE
        alive = is_alive(row["pid"], row["pid_start"])
        if alive and not exit_file.exists():
            self._enforce_deadlines(c, row, now)
            return True
        code = int(exit_file.read_text()) if exit_file.exists() else None
        state, raw, reason = store.outcome(row, code)
        store.update(
            c, row["id"], state=state, raw_state=raw, reason=reason, exit_code=code, ended_at=now
        )
        return False

    def _enforce_deadlines(self, c: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
        limit_min = store.spec_from_json(row["spec"]).time_limit_min
        if row["stop_reason"] is None and limit_min and now - row["started_at"] > limit_min * 60:
            store.update(c, row["id"], stop_reason="timeout", stop_sent_at=now)
            signal_group(row["pid"], row["pid_start"], signal.SIGTERM)
        elif row["stop_reason"] is not None and now - row["stop_sent_at"] > self._grace:
            signal_group(row["pid"], row["pid_start"], signal.SIGKILL)

    def _launch(
        self, c: sqlite3.Connection, row: sqlite3.Row, gpu_ids: Sequence[int], now: float
    ) -> None:
        spec = store.spec_from_json(row["spec"])
        jobdir = self._jobs_dir / str(row["id"])
        jobdir.mkdir(parents=True, exist_ok=True)
        identity = identity_env(str(row["id"]), row["name"], row["attempt"], spec.labels)
        env = job_env(
            self._env, spec.env, {**identity, **route_env(self._env, row["name"], spec.labels)}
        )
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpu_ids))  # "" hides every GPU
        try:
            proc = spawn_runner(jobdir, spec.command, env, spec.workdir)
        except OSError as exc:
            store.update(
                c,
                row["id"],
                state="failed",
                raw_state="not-started",
                reason=f"could not start: {exc}",
                ended_at=now,
            )
            return
        self._children.append(proc)
        store.update(
            c,
            row["id"],
            state="running",
            raw_state="running",
            started_at=now,
            reason=f"on GPU {','.join(map(str, gpu_ids))}" if gpu_ids else None,
            pid=proc.pid,
            pid_start=process_start_time(proc.pid),
            gpu_ids=json.dumps(gpu_ids),
        )
