"""`mlops-agent submit`: queue a job on the embedded local scheduler, as `sbatch` does on Slurm.

The supervisor's side only: it reads the settings, then hands the job to the
aiqu skill's `submit` entry as a process (docs/architecture.md: the
supervisor never imports a skill), with the skill environment the service
gives its skills. The job lands in the skill's own store, so the agent's aiqu
tools see it; the running service starts it when its GPUs are free.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.children import StateDirBusy, claim_state_dir
from agent.opencode.process import PASSTHROUGH_ENV
from agent.service.skills import skill_environment
from agent.settings import Settings
from core.skill_env import LEDGER_KEY_FILE

ENTRY = "mcp_servers.aiqu.submit"
SCRIPT_SUFFIXES = (".py", ".sh")


class SubmitError(Exception):
    """Not queued; the message says why."""


@dataclass(frozen=True)
class Queued:
    id: str
    name: str
    attempt: int
    state: str
    service_running: bool


def default_name(command: Sequence[str]) -> str:
    """`python train.py …` → `train`: the script it runs, else the program."""
    script = next((a for a in command if a.endswith(SCRIPT_SUFFIXES)), command[0])
    return Path(script).stem or "job"


def submit(
    settings: Settings,
    command: Sequence[str],
    *,
    name: str | None = None,
    gpus: int = 0,
    time_limit_min: int | None = None,
    owner: str | None = None,
) -> Queued:
    if not command:
        raise SubmitError("no command to run: put it after --, e.g. -- python train.py")
    state = settings.state_dir.resolve()
    env = skill_environment(
        settings,
        tracking_uri=settings.mlflow_tracking_uri,
        service_url=f"http://{settings.host}:{settings.port}",
        webhook_secret="",  # the service's processes start the job, with the real one
        ledger_key_file=state / LEDGER_KEY_FILE,
    )
    request = {
        "name": name or default_name(command),
        "command": list(command),
        "gpus": gpus,
        "time_limit_min": time_limit_min,
        "owner": owner or getpass.getuser(),
        "workdir": os.getcwd(),
        "env": dict(os.environ),  # the job runs with the submitter's environment
    }
    child_env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
    done = subprocess.run(
        [sys.executable, "-m", ENTRY],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**child_env, **env.to_env()},
        timeout=60,
        check=False,
    )
    answer = _answer(done)
    job = answer["job"]
    return Queued(job["id"], job["name"], job["attempt"], job["state"], _service_runs(state))


def _answer(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SubmitError(f"the aiqu skill failed (exit {done.returncode}): {detail[0]}") from None
    if not answer.get("ok"):
        raise SubmitError(str(answer.get("error")))
    return dict(answer)


def _service_runs(state_dir: Path) -> bool:
    """The service holds the state dir's lock while it runs."""
    try:
        lock = claim_state_dir(state_dir)
    except StateDirBusy:
        return True
    lock.close()
    return False
