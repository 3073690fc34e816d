"""`python -m mcp_servers.mlflow`: the mlflow skill over stdio (logs go to stderr).

Reads MLFLOW_TRACKING_URI (required) and MLOPS_ATTACHMENTS_DIR (default
$MLOPS_STATE_DIR/attachments, MLOPS_STATE_DIR defaulting to ./state).
"""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent

# stdout is the MCP channel: MLflow must not print run URLs there.
os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
# MLflow's defaults retry for minutes with a 120 s timeout; a tool call should fail fast.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def main() -> int:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="mlflow %(levelname)s %(message)s"
    )
    from mcp_servers.mlflow.slim import keep_data_science_stack_out

    keep_data_science_stack_out()  # before anything imports mlflow
    # Imported once the variables above are set: MLflow reads them.
    from core.skill_env import SkillEnvironment, SkillEnvironmentError
    from mcp_servers.mlflow.errors import MlflowSkillError
    from mcp_servers.mlflow.server import build_server
    from mcp_servers.mlflow.skill import MlflowSkill

    try:
        skill = MlflowSkill.from_env(SkillEnvironment.from_env(os.environ))
    except (SkillEnvironmentError, MlflowSkillError) as exc:
        print(f"mlflow: {exc}", file=sys.stderr)
        return 2
    build_server(skill).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
