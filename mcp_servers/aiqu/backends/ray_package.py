"""A job's working directory, shipped to the Ray cluster as Ray's own client ships it.

The directory is zipped (in a fixed order with fixed timestamps, so the same
files give the same bytes), named after its content (`_ray_pkg_<sha256>.zip`),
uploaded once (`PUT /api/packages/gcs/<name>`) unless the cluster already holds
it, and named in the job's `runtime_env.working_dir`; each worker unpacks it
and runs the job there. `.git` and `__pycache__` stay behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from .base import SchedulerError
from .ray_api import RayDashboard

# Ray keeps a package in its GCS, which takes at most one gRPC message (512 MiB).
MAX_BYTES = 500 * 1024 * 1024
LEFT_OUT = frozenset({".git", "__pycache__"})
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def ship(dashboard: RayDashboard, directory: Path) -> str:
    """Make `directory` available to the cluster; the `working_dir` URI to run in."""
    with tempfile.TemporaryDirectory(prefix="aiqu-ray-pkg-") as scratch:
        archive = Path(scratch) / "package.zip"
        digest = pack(directory, archive)
        name = f"_ray_pkg_{digest[:32]}.zip"
        if not dashboard.has_package(name):
            dashboard.upload_package(name, archive)
    return f"gcs://{name}"


def pack(directory: Path, archive: Path, max_bytes: int = MAX_BYTES) -> str:
    """Zip the files under `directory` into `archive`; the archive's sha256. Stops as soon
    as the archive outgrows what Ray takes, naming the limit."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(_files(directory)):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), FIXED_TIME)
            info.external_attr = (path.stat().st_mode & 0o777) << 16  # keeps scripts executable
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as source, zipped.open(info, "w", force_zip64=True) as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            if archive.stat().st_size > max_bytes:
                raise SchedulerError(
                    f"workdir {directory} zips to more than {max_bytes // 2**20} MiB, the most"
                    " Ray takes: move data out of it (jobs read data from shared storage)"
                )
    digest = hashlib.sha256()
    with open(archive, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in LEFT_OUT]
        found += [Path(root) / f for f in files if (Path(root) / f).is_file()]
    return found
