"""A scenario's jobs on the service's own local scheduler, as real processes.

Every job runs one small shell command: it prints the scenario's log, then
waits for its exit code to appear in a marker file named after the job
(`$MLOPS_JOB`, set by the scheduler). A failed or finished job gets its
marker before it starts, so it ends at once with that code; a running job has
none and runs until cancelled. Clones the agent submits or requeues run the
same command, so a requeued crash crashes again and a clone keeps running.

What happens to a job outside the service (a scenario's `scheduler` step) is
done to the real process, the way it happens on a real machine: the OOM killer's
SIGKILL (the job kills itself on a `KILL` marker: the kernel picks the job, not
the scheduler's runner), the scheduler's own time-limit check (run with its clock
past the limit), a preemption (SIGTERM, on a `TERM` marker, then the same job
queued again as its next attempt) and a colleague's cancel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.clock import Clock
from core.skill_env import SkillEnvironment
from evals.errors import SetupError
from mcp_servers.aiqu.backends.base import Job, JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler

WAIT_S = 30.0
SCRIPT = (
    'cat "$1"; m="$2/$(printf %s "$MLOPS_JOB" | tr / _)"; '
    'while [ ! -e "$m" ]; do kill -0 "$3" 2>/dev/null || exit 0; sleep 1; done; c="$(cat "$m")"; '
    'case "$c" in KILL) kill -9 $$;; TERM) kill -15 $$;; esac; exit "$c"'
)
TARGET = {"running": "running", "failed": "failed", "succeeded": "succeeded"}


@dataclass(frozen=True)
class JobState:
    name: str
    state: str
    by: str


class Jobs:
    def __init__(self, state_dir: Path, root: Path, gpus: int, clock: Clock) -> None:
        self.logs = root / "logs"
        self.markers = root / "markers"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.markers.mkdir(parents=True, exist_ok=True)
        inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
        # Jobs inherit only these: the service's own settings stay out, as in the skill.
        self.env = SkillEnvironment(extra=inherited)
        self.state_dir, self.gpus = state_dir, gpus
        self.scheduler = LocalScheduler(
            state_dir, gpus, env=self.env, cancel_grace_s=2.0, clock=clock.now
        )

    def close(self) -> None:
        self.scheduler.close()

    def command(self, name: str, log: str) -> list[str]:
        path = self.logs / (_file_name(name) + ".log")
        path.write_text(log)
        # The harness's pid: a job whose eval run was killed (SIGKILL, no clean-up) ends too.
        return ["sh", "-c", SCRIPT, "job", str(path), str(self.markers), str(os.getpid())]

    def finish(self, name: str, code: int | str) -> None:
        """Let the running job `name` (and any later attempt) exit with `code` (or kill
        itself: `KILL`, `TERM`)."""
        (self.markers / _file_name(name)).write_text(str(code))

    def submit(
        self,
        name: str,
        by: str,
        gpus: int,
        log: str,
        state: str,
        code: int,
        time_limit_min: int | None = None,
    ) -> Job:
        if state != "running":
            self.finish(name, 0 if state == "succeeded" else code)
        spec = JobSpec(
            name,
            self.command(name, log),
            gpus=gpus,
            labels={"submitted_by": by},
            time_limit_min=time_limit_min,
        )
        return self.scheduler.submit(spec)

    # -- what happens to a running job outside the service -----------------------------

    def kill(self, name: str) -> Job:
        """SIGKILL to the job's own process, as the kernel's OOM killer sends it."""
        self.finish(name, "KILL")
        return self._ended(self._running(name))

    def time_out(self, name: str) -> Job:
        """The scheduler's time-limit check, run once with its clock past the job's limit."""
        job = self._running(name)
        limit = (job.spec.time_limit_min if job.spec else None) or 0
        if not limit:
            raise SetupError(f"job {name} has no time_limit_min to pass")
        later = time.time() + limit * 60 + 1
        with LocalScheduler(self.state_dir, self.gpus, env=self.env, clock=lambda: later) as ahead:
            ahead.dispatch()
        return self._ended(job)

    def preempt(self, name: str) -> Job:
        """SIGTERM to the job, then the same job queued again as its next attempt."""
        job = self._running(name)
        self.finish(name, "TERM")
        self._ended(job)
        (self.markers / _file_name(name)).unlink()  # the next attempt runs on
        again = self.scheduler.requeue(job.id)
        self.wait([(again, "running")])
        return again

    def cancel(self, name: str, by: str) -> Job:
        """A colleague cancels it (the scheduler records who)."""
        job = self._running(name)
        self.scheduler.cancel(job.id, by=by)
        return self._ended(job)

    def _running(self, name: str) -> Job:
        running = [j for j in self.scheduler.list(include_finished=False) if j.name == name]
        if not running:
            raise SetupError(f"no running job named {name}")
        return max(running, key=lambda j: j.attempt)

    def _ended(self, job: Job) -> Job:
        deadline = time.monotonic() + WAIT_S
        while (now := self.scheduler.get(job.id)).state.active:
            if time.monotonic() > deadline:
                raise SetupError(f"job {job.name} still {now.state.value} after {WAIT_S:.0f} s")
            time.sleep(0.05)
        return now

    def wait(self, jobs: Sequence[tuple[Job, str]]) -> None:
        deadline = time.monotonic() + WAIT_S
        for job, state in jobs:
            while (now := self.scheduler.get(job.id)).state.value != TARGET[state]:
                if time.monotonic() > deadline or (not now.state.active and state == "running"):
                    raise SetupError(
                        f"job {job.name} is {now.state.value} ({now.reason}), not {state},"
                        f" after {WAIT_S:.0f} s"
                    )
                time.sleep(0.05)

    def snapshot(self) -> dict[str, JobState]:
        return {
            j.id: JobState(j.name, j.state.value, j.labels.get("submitted_by", ""))
            for j in self.scheduler.list(include_finished=True)
        }

    def cancel_all(self) -> None:
        for job in self.scheduler.list(include_finished=False):
            if job.state.active:
                self.scheduler.cancel(job.id)


def _file_name(job: str) -> str:
    return job.replace("/", "_")
