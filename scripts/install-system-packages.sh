#!/bin/sh
# Debian packages the tests need. The Slurm tests run Slurm 22.05 and 24.11 in
# podman containers whose images they build themselves (mmdebstrap from the
# Debian mirrors, once per machine), and reach them with nsenter: this host
# needs no Slurm, munge or namespace tools of its own. libGL and glib are the
# shared libraries OpenCV's PyPI wheel links, for the Ultralytics tests' venv
# (`make install-yolo`).
# Idempotent and fast when everything is present. Non-root developers get a
# message and exit 0: the Slurm tests then skip, everything else still runs.
set -eu

PACKAGES="podman runc mmdebstrap util-linux libgl1 libglib2.0-0"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
    echo "install-system-packages: all present ($PACKAGES)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-packages: not root; skipping install of:$missing" >&2
    echo "install-system-packages: the Slurm tests (tests/slurm) will be skipped." >&2
    echo "install-system-packages: so will the Ultralytics tests without libgl1 libglib2.0-0." >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-packages: apt-get not found; install by hand:$missing" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent (fresh container image).
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ]; then
    apt-get update -qq
fi
# shellcheck disable=SC2086  # word splitting of the package list is intended
if ! apt-get install -y -qq --no-install-recommends $missing; then
    # Lists may be stale (packages moved); refresh once and retry.
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-system-packages: installed:$missing"
