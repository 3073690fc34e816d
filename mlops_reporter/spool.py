"""The on-disk queue of events the agent has not acknowledged yet: one JSONL file per job.

Several processes may share a file (ranks of one job, the next run of the job), so every
read-modify-write holds an exclusive `flock` on a lock file beside it. Entries are read
back in order — each writing session in the order it first appears, each session's
events by sequence number — and deduplicated by `webhook-id`, because a replay after a
crash may have written the same event twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: one process per job file is assumed there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mlops_reporter")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SpoolEntry:
    id: str  # the webhook-id, kept for every resend so the service can dedupe
    session: str  # the writing process
    seq: int  # order within that process
    event: dict[str, Any]

    def line(self) -> str:
        record = {"id": self.id, "session": self.session, "seq": self.seq, "event": self.event}
        return json.dumps(record, separators=(",", ":")) + "\n"


class Spool:
    def __init__(self, directory: Path, job: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", job)[:120] or "job"
        self.path = directory / f"{name}.jsonl"
        self._lock_path = directory / f"{name}.lock"
        self._max_bytes = max_bytes
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access across threads and processes (held for file operations only)."""
        with self._thread_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._lock_path, "a") as lock_file:
                if fcntl is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
                yield

    def append(self, entries: Iterable[SpoolEntry], sync: bool = True) -> int:
        """Append under the lock; returns how many were written (0 when the disk says no).
        `sync=False` skips the fsync: for the training thread, which must not wait on disk."""
        lines = [entry.line() for entry in entries]
        if not lines:
            return 0
        try:
            with self.locked():
                if self._size() > self._max_bytes:
                    log.warning(
                        "mlops_reporter: spool %s is over %d bytes; %d event(s) dropped",
                        self.path,
                        self._max_bytes,
                        len(lines),
                    )
                    return 0
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write("".join(lines))
                    f.flush()
                    if sync:
                        os.fsync(f.fileno())
        except OSError as err:
            log.warning("mlops_reporter: cannot write spool %s (%s); events lost", self.path, err)
            return 0
        return len(lines)

    def read(self) -> list[SpoolEntry]:
        with self.locked():
            return _ordered(self._read_lines())

    def remove(self, ids: set[str]) -> int:
        """Drop entries whose id is in `ids`; returns how many entries are left."""
        with self.locked():
            kept = [e for e in _ordered(self._read_lines()) if e.id not in ids]
            if kept:
                tmp = self.path.with_suffix(".tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write("".join(e.line() for e in kept))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            return len(kept)

    def is_empty(self) -> bool:
        return self._size() == 0

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _read_lines(self) -> list[SpoolEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                entries.append(SpoolEntry(raw["id"], raw["session"], int(raw["seq"]), raw["event"]))
            except (ValueError, KeyError, TypeError):
                # A line cut short by a crash mid-write; the rest of the file is still good.
                log.warning("mlops_reporter: skipping unreadable line %d of %s", number, self.path)
        return entries


def _ordered(entries: list[SpoolEntry]) -> list[SpoolEntry]:
    first_seen: dict[str, int] = {}
    unique: dict[str, SpoolEntry] = {}
    for index, entry in enumerate(entries):
        first_seen.setdefault(entry.session, index)
        unique.setdefault(entry.id, entry)
    return sorted(unique.values(), key=lambda e: (first_seen[e.session], e.seq))
