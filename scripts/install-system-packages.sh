#!/bin/sh
# Debian packages the tests need. The Slurm tests run Slurm 22.05 and 24.11 in
# podman containers whose images they build themselves (mmdebstrap from the
# Debian mirrors, once per machine), and reach them with nsenter: this host
# needs no Slurm, munge or namespace tools of its own. podman also builds and
# runs the service's own image (runc: crun fails on a cgroups v1/v2 hybrid;
# mmdebstrap makes the base image where no image registry can be reached).
# libGL and glib are the shared libraries OpenCV's PyPI wheel links, for the
# Ultralytics tests' venv (`make install-yolo`). Chromium and fonts for the web
# page's tests (tests/web drives Debian's Chromium with Playwright: `playwright
# install` would download a browser); the emoji font draws the cards' outcome
# marks in the README's screenshots. The Ray tests' head runs in a network namespace of
# its own (`unshare` from util-linux, `ip` from iproute2: tests/ray/launch.py).
# Idempotent and fast when everything is present. Non-root developers get a
# message and exit 0: the Slurm, Ray, container, Ultralytics and web tests then skip,
# everything else runs.
set -eu

CONTAINER_PACKAGES="podman runc mmdebstrap uidmap slirp4netns fuse-overlayfs util-linux"
ULTRALYTICS_PACKAGES="libgl1 libglib2.0-0"
WEB_PACKAGES="chromium fonts-liberation fonts-noto-color-emoji"
RAY_PACKAGES="iproute2"
PACKAGES="$CONTAINER_PACKAGES $ULTRALYTICS_PACKAGES $WEB_PACKAGES $RAY_PACKAGES"
# Another apt or dpkg (a colleague's install, unattended-upgrades) may hold the
# lock: wait for it this long instead of failing at once.
LOCK_WAIT_S=${APT_LOCK_WAIT_S:-600}

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
    echo "install-system-packages: the Slurm, Ray, container, Ultralytics and web tests will be skipped." >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-packages: apt-get not found; install by hand:$missing" >&2
    exit 0
fi

apt_get() {
    apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT_S" "$@"
}

# DPkg::Lock::Timeout covers dpkg's locks, not the package lists' lock that
# `update` takes (apt 2.6 fails on it at once): retry while another apt holds it.
apt_update() {
    waited=0
    while ! out=$(apt_get update -qq 2>&1); do
        case $out in
            *"Could not get lock"*) ;;
            *) echo "$out" >&2; return 1 ;;
        esac
        if [ "$waited" -ge "$LOCK_WAIT_S" ]; then
            echo "$out" >&2
            return 1
        fi
        [ "$waited" -gt 0 ] || echo "install-system-packages: waiting for another apt to finish" >&2
        sleep 5
        waited=$((waited + 5))
    done
    [ -z "$out" ] || echo "$out"
}

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent (fresh container image).
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' || true)" ]; then
    apt_update
fi
# shellcheck disable=SC2086  # word splitting of the package list is intended
if ! apt_get install -y -qq --no-install-recommends $missing; then
    # Lists may be stale (packages moved); refresh once and retry.
    apt_update
    apt_get install -y -qq --no-install-recommends $missing
fi
echo "install-system-packages: installed:$missing"
