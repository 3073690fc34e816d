"""The on-disk queue of events the agent has not acknowledged yet: one JSONL file per job.

Two append-only files per job: `<job>.jsonl` holds the events, `<job>.acked` the
webhook-ids already delivered. Sending from the spool only appends ids; `compact()`
rewrites the events file once per drain. Several processes may share the files (ranks of
one job, the next run), so each file operation holds an exclusive `flock` on
`<job>.lock`, briefly: parsing happens outside it. Entries come back in order — each
writing session in the order it first appears, its events by sequence number — and
deduplicated by webhook-id, since a replay after a crash may have written one twice.
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
        self._acked_path = directory / f"{name}.acked"
        self._lock_path = directory / f"{name}.lock"
        self._max_bytes = max_bytes
        self._thread_lock = threading.Lock()
        self._lock_fd: int | None = None

    @contextlib.contextmanager
    def _locked(self, blocking: bool = True) -> Iterator[bool]:
        """Hold the lock; with `blocking=False`, yields False at once if it is taken."""
        if not self._thread_lock.acquire(blocking):
            yield False
            return
        try:
            if self._lock_fd is None:
                # Opened once and kept: every syscall saved is time the training
                # thread does not spend when it has to spool an event itself.
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            if fcntl is None:
                yield True
                return
            flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.flock(self._lock_fd, flags)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Release the lock file descriptor (reopened if the spool is used again)."""
        with self._thread_lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def append(
        self, entries: Iterable[SpoolEntry], sync: bool = True, blocking: bool = True
    ) -> int | None:
        """Append; returns how many were written (0 when the disk says no), or None when
        `blocking=False` and another writer holds the lock (nothing was written).
        `sync=False` skips the fsync (a process crash still keeps the data)."""
        text = "".join(entry.line() for entry in entries)
        if not text:
            return 0
        count = text.count("\n")
        try:
            with self._locked(blocking) as held:
                if not held:
                    return None
                if _size(self.path) > self._max_bytes:
                    log.warning(
                        "mlops_reporter: spool %s is over %d bytes; %d event(s) dropped",
                        self.path,
                        self._max_bytes,
                        count,
                    )
                    return 0
                # Opened under the lock: compaction may replace the file, never mid-write.
                f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
                try:
                    f.write(text)
                    f.flush()
                except BaseException:
                    f.close()
                    raise
            with f:
                if sync:  # outside the lock: other writers need not wait for the disk
                    os.fsync(f.fileno())
        except OSError as err:
            log.warning("mlops_reporter: cannot write spool %s (%s); events lost", self.path, err)
            return 0
        return count

    def read(self) -> list[SpoolEntry]:
        """Unacknowledged entries, in delivery order."""
        with self._locked():
            events, acked = _read(self.path), _read(self._acked_path)
        done = set(acked.split())
        return [e for e in _ordered(_parse(events, self.path)) if e.id not in done]

    def ack(self, ids: Iterable[str]) -> None:
        """Mark entries delivered (or rejected for good): they will not be read again."""
        text = "".join(f"{i}\n" for i in ids)
        if text:
            with self._locked(), open(self._acked_path, "a", encoding="utf-8") as f:
                f.write(text)

    def compact(self) -> int:
        """Rewrite the events file without acknowledged or unreadable lines; returns how
        many entries are left (0: both files are gone)."""
        with self._locked():
            done = set(_read(self._acked_path).split())
            kept = [e for e in _ordered(_parse(_read(self.path), self.path)) if e.id not in done]
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
            with contextlib.suppress(FileNotFoundError):
                self._acked_path.unlink()
            return len(kept)

    def is_empty(self) -> bool:
        return _size(self.path) == 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # missing, or a spool folder we may not read: nothing to send from it
        return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _parse(text: str, path: Path) -> list[SpoolEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            entries.append(SpoolEntry(raw["id"], raw["session"], int(raw["seq"]), raw["event"]))
        except (ValueError, KeyError, TypeError):
            # A line cut short by a crash mid-write; the rest of the file is still good.
            log.warning("mlops_reporter: skipping unreadable line %d of %s", number, path)
    return entries


def _ordered(entries: list[SpoolEntry]) -> list[SpoolEntry]:
    first_seen: dict[str, int] = {}
    unique: dict[str, SpoolEntry] = {}
    for index, entry in enumerate(entries):
        first_seen.setdefault(entry.session, index)
        unique.setdefault(entry.id, entry)
    return sorted(unique.values(), key=lambda e: (first_seen[e.session], e.seq))
