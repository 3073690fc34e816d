"""Every path the model names is resolved inside the datasets root, or refused.

The model supplies dataset and version *names*, never paths. A name is one
plain folder name: no separators, no `..`, nothing absolute, nothing hidden.
Even a valid name can point elsewhere through a symlink, so the resolved real
path must still lie inside the real root.
"""

from __future__ import annotations

import os

from mcp_servers.datasets.errors import DatasetError

# Files are opened read-only and never through a final symlink component, so a
# label swapped for a symlink between listing and reading is not followed.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_name(name: str, what: str) -> None:
    """Refuse anything that is not one plain folder name."""
    if not name:
        raise DatasetError(f"{what} name is empty; give a folder name like 'pcb-defects'")
    if "\x00" in name:
        raise DatasetError(f"{what} name contains a NUL byte; give a plain folder name")
    # Absolute paths would make os.path.join discard the root entirely.
    if os.path.isabs(name) or name.startswith(("\\", "~")):
        raise DatasetError(
            f"absolute paths are not allowed for the {what} name ({name!r}); "
            "give a folder name inside the datasets root"
        )
    if ".." in name.replace("\\", "/").split("/"):
        raise DatasetError(
            f"'..' is not allowed in the {what} name ({name!r}); "
            "give a folder name inside the datasets root"
        )
    if "/" in name or "\\" in name:
        raise DatasetError(
            f"the {what} name {name!r} contains a path separator; "
            "give a single folder name (datasets and versions are separate arguments)"
        )
    if name.startswith("."):
        raise DatasetError(f"hidden names like {name!r} are not datasets or versions")


def is_inside(real_path: str, real_root: str) -> bool:
    return real_path == real_root or real_path.startswith(real_root + os.sep)


def resolve_child(real_parent: str, name: str, real_root: str, what: str) -> str:
    """Real path of `name` under `real_parent`, refusing symlinks that leave the root."""
    check_name(name, what)
    real = os.path.realpath(os.path.join(real_parent, name))
    if not is_inside(real, real_root):
        raise DatasetError(
            f"the {what} {name!r} is a symlink that leads outside the datasets root; refused"
        )
    return real


def read_bytes(path: str, limit: int | None = None) -> bytes:
    """Whole file (or its first `limit` bytes), read-only, not through a final symlink."""
    fd = os.open(path, _READ_FLAGS)
    try:
        if limit is not None:
            return os.read(fd, limit)
        chunks = []  # plain os.read: no buffered file object per call on the hot path
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
