"""`python -m mcp_servers.aiqu.submit` < request.json: queue it, print the answer (see
`__init__`). Exit 0 when queued, 2 when refused (the answer says why)."""

from __future__ import annotations

import json
import os
import sys

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.backends.processes import detect_gpus
from mcp_servers.aiqu.settings import AiquSettings
from mcp_servers.aiqu.submit.request import queue

CLUSTER_TOOLS = {"slurm": "sbatch", "ray": "ray job submit"}


def main() -> int:
    try:
        env = SkillEnvironment.from_env(os.environ)
        settings = AiquSettings.from_env(env)
    except ValueError as exc:  # SkillEnvironmentError names the variable
        answer: dict[str, object] = {"ok": False, "error": str(exc)}
    else:
        if settings.scheduler != "local":
            tool = CLUSTER_TOOLS.get(settings.scheduler, "its own tool")
            answer = {
                "ok": False,
                "error": f"MLOPS_SCHEDULER={settings.scheduler}: mlops-agent submit queues on the"
                f" embedded local scheduler only; submit with the cluster's own tool ({tool}),"
                " and the agent watches the job once it reports",
            }
        else:
            gpus = detect_gpus() if settings.local_gpus is None else settings.local_gpus
            # Queue only: the service's processes start it, with the service's environment.
            with LocalScheduler(env.state, gpus, env=env, launches=False) as scheduler:
                answer = queue(scheduler, sys.stdin.read())
    print(json.dumps(answer))
    return 0 if answer["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
