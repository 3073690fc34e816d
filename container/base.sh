#!/bin/sh
# The project's Debian base image, made once per machine: `container/base.sh` prints its
# tag, localhost/mlops-agent-base:bookworm, after making it if this machine lacks it.
#
# No image registry can be reached from these machines, so the base is Debian bookworm
# from its mirrors (mmdebstrap --variant=minbase, ~40 s), like Debian's -slim images:
# no docs, man pages or translations, now or in later apt installs (the options stay in
# /etc/dpkg/dpkg.cfg.d). The service image (container/build.sh) and the throwaway CI
# machine of `make test-fresh` (.ci/fresh) start from it.
set -eu
cd "$(dirname "$0")/.."

LOCAL_BASE=localhost/mlops-agent-base:bookworm
RUNTIME=${RUNTIME:-podman}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}

if ! $RUNTIME image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null 2>&1 || {
        echo "container/base.sh: mmdebstrap is needed to make the base image" >&2
        echo "  (or set BASE_IMAGE=debian:bookworm-slim to pull it)" >&2
        exit 1
    }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "container/base.sh: making $LOCAL_BASE with mmdebstrap (once)" >&2
    mmdebstrap --quiet --variant=minbase \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/groff/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        bookworm "$work/rootfs.tar" >&2
    $RUNTIME import --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$LOCAL_BASE" >/dev/null
fi
echo "$LOCAL_BASE"
