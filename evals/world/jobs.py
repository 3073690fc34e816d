"""A scenario's jobs on the service's own local scheduler, as real processes.

Every job runs one small shell command: it prints the scenario's log, then
waits for its exit code to appear in a marker file named after the job
(`$MLOPS_JOB`, set by the scheduler). A failed or finished job gets its
marker before it starts, so it ends at once with that code; a running job has
none and runs until cancelled. Clones the agent submits or requeues run the
same command, so a requeued crash crashes again and a clone keeps running.
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
    'while [ ! -e "$m" ]; do sleep 1; done; exit "$(cat "$m")"'
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
        env = SkillEnvironment(extra=inherited)
        self.scheduler = LocalScheduler(
            state_dir, gpus, env=env, cancel_grace_s=2.0, clock=clock.now
        )

    def close(self) -> None:
        self.scheduler.close()

    def command(self, name: str, log: str) -> list[str]:
        path = self.logs / (_file_name(name) + ".log")
        path.write_text(log)
        return ["sh", "-c", SCRIPT, "job", str(path), str(self.markers)]

    def finish(self, name: str, code: int) -> None:
        """Let the running job `name` (and any later attempt) exit with `code`."""
        (self.markers / _file_name(name)).write_text(str(code))

    def submit(self, name: str, by: str, gpus: int, log: str, state: str, code: int) -> Job:
        if state != "running":
            self.finish(name, 0 if state == "succeeded" else code)
        spec = JobSpec(name, self.command(name, log), gpus=gpus, labels={"submitted_by": by})
        return self.scheduler.submit(spec)

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
