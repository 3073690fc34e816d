#!/bin/sh
# Build the service image: `container/build.sh [TAG [BUILD-OPTIONS…]]`
# (default tag localhost/mlops-agent:latest; e.g. `… TAG --no-cache`).
#
# Uses podman, or docker when podman is absent (CONTAINER_ENGINE=docker to choose).
# Where no image registry can be reached, the base image is made locally once
# from Debian's packages (mmdebstrap, ~40 s) and reused; set
# BASE_IMAGE=debian:bookworm-slim to pull the official one instead. Builds run
# on the host's network so pip and npm reach their registries; a host CA bundle
# named by PIP_CERT or NODE_EXTRA_CA_CERTS (a package proxy's) is lent to the
# build only, never stored in the image.
set -eu
cd "$(dirname "$0")/.."

TAG=${1:-localhost/mlops-agent:latest}
[ $# -gt 0 ] && shift  # the rest go to `build` as they are, e.g. --no-cache
OPENCODE_VERSION=${OPENCODE_VERSION:-1.18.33}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}

if [ -n "${CONTAINER_ENGINE:-}" ]; then
    RUNTIME=$CONTAINER_ENGINE
elif command -v podman >/dev/null 2>&1; then
    RUNTIME=podman
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    RUNTIME=docker
else
    echo "container/build.sh: neither podman nor a running docker found" >&2
    echo "  Debian: scripts/install-system-packages.sh installs podman" >&2
    exit 1
fi

if [ -z "${BASE_IMAGE:-}" ]; then
    BASE_IMAGE=$(RUNTIME=$RUNTIME container/base.sh)
fi

set -- "$@" --network host --build-arg "BASE=$BASE_IMAGE" \
    --build-arg "OPENCODE_VERSION=$OPENCODE_VERSION" -f container/Dockerfile -t "$TAG"
ca=${PIP_CERT:-${NODE_EXTRA_CA_CERTS:-}}
if [ -n "$ca" ] && [ "$RUNTIME" = podman ]; then
    # The bundle, read-only, for this build's RUN steps only (beside the image's own
    # /etc/ssl/certs, which the final stage's ca-certificates writes).
    set -- "$@" -v "$ca:/run/host-ca.crt:ro" \
        --build-arg PIP_CERT=/run/host-ca.crt --build-arg NODE_EXTRA_CA_CERTS=/run/host-ca.crt
fi
# podman's default OCI format would drop the HEALTHCHECK.
[ "$RUNTIME" = podman ] && set -- "$@" --format docker
$RUNTIME build "$@" .
size=$($RUNTIME image inspect --format '{{.Size}}' "$TAG")
echo "container/build.sh: built $TAG ($((size / 1000000)) MB)"
