"""Run the mlflow skill over stdio: `python -m mcp_servers.mlflow`.

Reads MLFLOW_TRACKING_URI (required) and MLOPS_ATTACHMENTS_DIR (default
$MLOPS_STATE_DIR/attachments, MLOPS_STATE_DIR defaulting to ./state).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from core.lifetime import follow_parent

# stdout is the MCP channel: MLflow must not print run URLs there.
os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
# MLflow's defaults retry for minutes with a 120 s timeout; a tool call should fail fast.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def main() -> None:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking_uri:
        sys.exit("mcp_servers.mlflow: MLFLOW_TRACKING_URI is not set (e.g. http://127.0.0.1:5000)")
    attachments = os.environ.get("MLOPS_ATTACHMENTS_DIR") or str(
        Path(os.environ.get("MLOPS_STATE_DIR") or "state") / "attachments"
    )

    from mcp_servers.mlflow.slim import tracking_client

    client = tracking_client(tracking_uri)  # before anything else imports mlflow
    from mcp_servers.mlflow.server import build_server

    build_server(client, Path(attachments).resolve()).run("stdio")


if __name__ == "__main__":
    main()
