#!/bin/sh
# Check the configuration once (the output lands in the container log), then serve.
set -e
/app/.venv/bin/mlops-agent doctor || echo "doctor found problems (above); starting anyway"
exec /app/.venv/bin/mlops-agent serve
