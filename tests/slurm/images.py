"""Debian Slurm images for the test containers, built once per machine and reused.

No image registry is reachable, so an image is a Debian root made by
`mmdebstrap` (the Debian mirrors are) with Slurm's packages installed, turned
into an image by `podman import`. Its tag is a hash of its recipe, so a
changed recipe builds anew and an unchanged one costs nothing after the first
build on a machine. Configuration and entrypoint are not in the image: each
cluster writes its own into a directory mounted into its container.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.slurm.podman import PodmanError, podman

# Bump to rebuild every image even though its packages did not change.
RECIPE_REVISION = 1
BUILD_TIMEOUT_S = 900
SLURM = ("slurmctld", "slurmd", "slurm-client", "munge", "tini")


class ImageUnavailable(RuntimeError):
    """The image is not there and could not be built; the message says why."""


@dataclass(frozen=True)
class SlurmImage:
    version: str  # the Slurm release series it carries, e.g. "24.11"
    suite: str  # the Debian suite that ships it
    packages: tuple[str, ...] = SLURM
    flavour: str = ""  # "" for the test clusters, "dbd" for the capture's slurmdbd

    @property
    def name(self) -> str:
        return f"localhost/mlops-slurm-{self.suite}{'-' + self.flavour if self.flavour else ''}"

    @property
    def tag(self) -> str:
        recipe = [RECIPE_REVISION, self.suite, "apt", sorted(self.packages)]
        digest = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]
        return f"{self.name}:{digest}"


IMAGES = {
    "22.05": SlurmImage("22.05", "bookworm"),
    "24.11": SlurmImage("24.11", "trixie"),
}
VERSIONS = tuple(IMAGES)
# For the capture script only: slurmdbd beside the daemons; bookworm's MariaDB
# serves both (slurmdbd 24.11 fails its startup check against trixie's MariaDB 11.8).
ACCOUNTING_IMAGES = {
    "22.05": SlurmImage("22.05", "bookworm", (*SLURM, "slurmdbd", "mariadb-server"), "dbd"),
    "24.11": SlurmImage("24.11", "trixie", (*SLURM, "slurmdbd"), "dbd"),
}


def ensure_image(image: SlurmImage) -> str:
    """The image's tag, building it first when this machine does not have it yet."""
    with _build_lock(image):
        if _exists(image.tag):
            return image.tag
        started = time.monotonic()
        _build(image)
        print(f"built {image.tag} in {time.monotonic() - started:.0f} s")
        _remove_older_tags(image)
    return image.tag


def _exists(tag: str) -> bool:
    try:
        podman("image", "exists", tag)
    except PodmanError:
        return False
    return True


def _build(image: SlurmImage) -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-slurm-image-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        argv = ["mmdebstrap", "--variant=apt", f"--include={','.join(image.packages)}"]
        try:
            done = subprocess.run(
                [*argv, image.suite, str(rootfs)],
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ImageUnavailable(
                f"mmdebstrap {image.suite} did not finish within {BUILD_TIMEOUT_S} s"
            ) from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-8:])
            raise ImageUnavailable(
                f"mmdebstrap {image.suite} with {', '.join(image.packages)} failed"
                f" (exit {done.returncode}); are the Debian mirrors reachable?\n{tail}"
            )
        try:
            podman("import", str(rootfs), image.tag, timeout=300)
        except PodmanError as exc:
            raise ImageUnavailable(f"podman import of {image.tag} failed: {exc}") from None


def _remove_older_tags(image: SlurmImage) -> None:
    """Images of an older recipe of the same name are never used again."""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", image.name, check=False)
    for tag in listed.split():
        if tag != image.tag:
            podman("rmi", tag, check=False)


@contextmanager
def _build_lock(image: SlurmImage) -> Iterator[None]:
    """Two test runs on one machine build an image once, not twice side by side."""
    lock = Path(tempfile.gettempdir()) / f"{image.name.rsplit('/', 1)[-1]}.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
