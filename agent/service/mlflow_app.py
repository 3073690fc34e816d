"""The MLflow tracking server as one process: MLflow's own app served by uvicorn in-process.

    python -m agent.service.mlflow_app --backend-store-uri sqlite:///… \\
        --artifacts-destination DIR --host 127.0.0.1 --port P

`mlflow server` is a launcher that stays resident (~0.5 GB) only to wait for
the uvicorn process it spawns. This does what that launcher does for our one
configuration — the same backend store, artifacts proxied by the server
(`mlflow-artifacts:/` stored under `--artifacts-destination`), the schema
created or upgraded before the first request — and then serves
`mlflow.server.fastapi_app:app` itself, with one worker, in this process.
Run only as a subprocess: it configures MLflow through process environment.
"""

from __future__ import annotations

import argparse
import os
import sys

# What `mlflow server --artifacts-destination` sets as the default artifact root.
PROXIED_ARTIFACT_ROOT = "mlflow-artifacts:/"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent.service.mlflow_app", description=__doc__)
    parser.add_argument("--backend-store-uri", required=True)
    parser.add_argument("--artifacts-destination", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser.parse_args(argv)


def configure(backend_store_uri: str, artifacts_destination: str) -> None:
    """The environment `mlflow server` hands its uvicorn workers, for one worker: us."""
    from mlflow.server.constants import (
        ARTIFACT_ROOT_ENV_VAR,
        ARTIFACTS_DESTINATION_ENV_VAR,
        BACKEND_STORE_URI_ENV_VAR,
        REGISTRY_STORE_URI_ENV_VAR,
        SERVE_ARTIFACTS_ENV_VAR,
    )

    os.environ.update(
        {
            BACKEND_STORE_URI_ENV_VAR: backend_store_uri,
            REGISTRY_STORE_URI_ENV_VAR: backend_store_uri,
            ARTIFACT_ROOT_ENV_VAR: PROXIED_ARTIFACT_ROOT,
            SERVE_ARTIFACTS_ENV_VAR: "true",
            ARTIFACTS_DESTINATION_ENV_VAR: artifacts_destination,
            # No job runner (huey) processes: nothing here needs MLflow's server-side jobs.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_ENABLE_WORKSPACES": "false",
            "_MLFLOW_SGI_NAME": "uvicorn",
        }
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure(args.backend_store_uri, args.artifacts_destination)

    import uvicorn
    from mlflow.server.handlers import initialize_backend_stores

    # Create or upgrade the schema now, as the CLI does, so a bad store fails the start
    # with its error instead of failing the first request.
    initialize_backend_stores(args.backend_store_uri, args.backend_store_uri, PROXIED_ARTIFACT_ROOT)
    uvicorn.run(
        "mlflow.server.fastapi_app:app",
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        # One line per request would grow the log for as long as the service runs.
        access_log=False,
    )


if __name__ == "__main__":
    main()
