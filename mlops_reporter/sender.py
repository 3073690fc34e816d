"""The background thread that gets events to the agent, in order, without ever blocking
the thread that hands them in.

`submit` (the caller's thread) only appends to an in-memory queue. The sender thread
posts the head of the queue directly while the spool is empty and the queue is short.
Otherwise it moves the whole queue to the spool (keeping memory bounded) and drains the
spool in order — earlier runs' events first — retrying with capped exponential backoff
while the agent is unreachable. An item leaves the queue only once it was sent, rejected
or spooled, so whatever is still queued at exit can be spooled by `close`. Only if the
sender is stuck in one slow POST while the queue reaches ten times its size does the
caller's thread write to the spool itself (no fsync) rather than grow memory further.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook

from mlops_reporter.events import finalize
from mlops_reporter.spool import Spool, SpoolEntry
from mlops_reporter.transport import Delivery, Outcome, post_event

log = logging.getLogger("mlops_reporter")

_ACK_BATCH = 50
_SPOOL_CHUNK = 256
_URGENT_RETRY_S = 0.25


@dataclass
class SenderStats:
    sent: int = 0
    rejected: int = 0
    spooled: int = 0


class _Item:
    __slots__ = ("seq", "raw")

    def __init__(self, seq: int, raw: dict[str, Any]) -> None:
        self.seq = seq
        self.raw = raw


class Sender:
    def __init__(
        self,
        endpoint: str,
        webhook: Webhook,
        spool: Spool,
        job: str,
        context: Callable[[], Mapping[str, Any]],
        *,
        max_queue: int = 1000,
        timeout_s: float = 5.0,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
    ) -> None:
        self._endpoint = endpoint
        self._webhook = webhook
        self._spool = spool
        self._job = job
        self._context_fn = context
        self._context: Mapping[str, Any] | None = None
        self._max_queue = max_queue
        self._hard_limit = 10 * max_queue
        self._timeout_s = timeout_s
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s

        # One random session id per process: webhook-ids are unique without a
        # uuid per event (which would cost the training thread microseconds).
        self._session = uuid.uuid4().hex
        self._seq = itertools.count()
        self._queue: collections.deque[_Item] = collections.deque()
        # A doorbell, not an Event: SimpleQueue.put never waits on a lock, so the caller's
        # thread never gives up the GIL here (taking it back can cost milliseconds while
        # this thread is busy serializing).
        self._doorbell: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._rung = False
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._urgent = False
        self._closed = False
        self.stats = SenderStats()

    # -- caller's thread -------------------------------------------------------------

    def submit(self, raw: dict[str, Any]) -> None:
        item = _Item(next(self._seq), raw)
        # Past the hard limit the caller's thread spools this event itself, but only if
        # the spool is free this instant: waiting for the lock would stall training.
        if len(self._queue) < self._hard_limit or not self._to_spool([item], blocking=False):
            self._queue.append(item)
        if self._thread is None:
            self._start()
        if not self._rung:
            self._ring()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything submitted so far was sent, rejected or spooled."""
        last = next(self._seq) - 1  # a skipped number is harmless; order is what counts
        self._ring()
        return self._wait(lambda: not self._queue or self._queue[0].seq > last, timeout_s)

    def close(self, timeout_s: float, urgent: bool) -> bool:
        """Deliver what is queued and spooled for at most `timeout_s`, then stop. While the
        agent is unreachable this returns as soon as the queue is spooled — unless `urgent`
        (a crash report is pending): then the spool is retried every quarter second,
        ignoring backoff, until the deadline. Whatever is still queued at the deadline is
        spooled for the next run. Returns True when nothing is left for later."""
        if urgent:
            self._urgent = True
            self._retry_at = 0.0
        self._ring()

        def settled() -> bool:
            if self._queue:
                return False
            return self._spool.is_empty() or (self._failures > 0 and not urgent)

        done = self._wait(settled, timeout_s)
        self._closed = True
        self._ring()  # the thread ends at its next wake-up (or when a slow POST returns)
        leftovers = list(self._queue)
        if leftovers:
            # The head may be in flight right now: if it arrives as well, the service
            # drops the replay by its webhook-id.
            self._to_spool(leftovers)
        left = not self._spool.is_empty()
        self._spool.close()
        return done and not leftovers and not left

    def _ring(self) -> None:
        self._rung = True
        self._doorbell.put(None)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="mlops-reporter", daemon=True
                )
                self._thread.start()

    def _wait(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._progress:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, 0.05))
        return True

    # -- sender thread ---------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            timeout = None
            if not self._spool.is_empty():
                timeout = max(0.0, self._retry_at - time.monotonic())
            with contextlib.suppress(queue.Empty):
                self._doorbell.get(timeout=timeout)
            # Reset before looking at the queue: an item added from here on rings again.
            self._rung = False
            try:
                self._step()
            except Exception:  # the thread must outlive any surprise
                log.exception("mlops_reporter: sender error; retrying later")
                self._failed()
            self._notify()

    def _step(self) -> None:
        while self._queue and not self._closed:
            if len(self._queue) > self._max_queue or not self._spool.is_empty():
                # A backlog, or something waits on disk: queue behind it, in order.
                self._sweep()
                break
            item = self._queue[0]
            body = self._body(item)
            delivery = post_event(
                self._endpoint, self._webhook, self._message_id(item), body, self._timeout_s
            )
            if delivery.outcome is Outcome.RETRY:
                self._to_spool([item])
                self._failed(delivery)
            else:
                self._count(delivery, item.raw["type"])
            self._queue.popleft()
            self._notify()
        if not self._closed and time.monotonic() >= self._retry_at and not self._spool.is_empty():
            self._drain()

    def _sweep(self) -> None:
        items = list(self._queue)  # atomic under the GIL; the caller only appends
        if items:
            self._to_spool(items)
            for _ in items:
                self._queue.popleft()
            self._notify()

    def _drain(self) -> None:
        self._sweep()  # everything queued goes behind what is on disk
        delivered: list[str] = []
        acked = stopped = False
        for entry in self._spool.read():
            if self._closed:
                return
            body = json.dumps(entry.event, separators=(",", ":"))
            delivery = post_event(self._endpoint, self._webhook, entry.id, body, self._timeout_s)
            if delivery.outcome is Outcome.RETRY:
                self._failed(delivery)
                stopped = True
                break
            self._count(delivery, entry.event.get("type"))
            delivered.append(entry.id)
            if len(delivered) >= _ACK_BATCH:
                self._spool.ack(delivered)
                delivered, acked = [], True
                if len(self._queue) > self._max_queue:
                    self._sweep()  # a long drain must not let memory grow
        if delivered:
            self._spool.ack(delivered)
            acked = True
        if acked or not stopped:
            # Also when nothing was read: compaction drops lines a crash left unreadable.
            self._spool.compact()

    def _notify(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _count(self, delivery: Delivery, event_type: object) -> None:
        if delivery.outcome is Outcome.SENT:
            if self._failures:
                log.warning("mlops_reporter: the agent is reachable again")
            self.stats.sent += 1
            self._failures = 0
            self._retry_at = 0.0
        else:
            self.stats.rejected += 1
            log.warning(
                "mlops_reporter: the agent rejected a %r event with HTTP %s (%s); dropped it "
                "(a 4xx other than 408/429 would be rejected again)",
                event_type,
                delivery.status,
                delivery.detail[:200] or "no detail",
            )

    def _failed(self, delivery: Delivery | None = None) -> None:
        if delivery is not None and self._failures == 0:
            log.warning(
                "mlops_reporter: cannot reach the agent at %s (%s); keeping events in %s",
                self._endpoint,
                f"HTTP {delivery.status}" if delivery.status else delivery.detail,
                self._spool.path,
            )
        self._failures += 1
        if self._urgent:
            delay = _URGENT_RETRY_S
        else:
            delay = min(self._retry_max_s, self._retry_base_s * 2 ** (self._failures - 1))
            delay *= random.uniform(0.75, 1.0)  # many jobs must not retry in lockstep
        self._retry_at = time.monotonic() + delay

    # -- both ------------------------------------------------------------------------

    def _to_spool(self, items: list[_Item], blocking: bool = True) -> bool:
        """Spool `items`; False only when `blocking=False` and the spool was busy."""
        # In chunks: one huge join/encode would hold the GIL for many milliseconds, and
        # the training thread would wait that long for it.
        for start in range(0, len(items), _SPOOL_CHUNK):
            entries = [
                SpoolEntry(self._message_id(i), self._session, i.seq, self._finalized(i))
                for i in items[start : start + _SPOOL_CHUNK]
            ]
            # One fsync, after the last chunk; the caller's thread (non-blocking) skips it:
            # it must not wait on the disk.
            last = start + _SPOOL_CHUNK >= len(items)
            written = self._spool.append(entries, sync=blocking and last, blocking=blocking)
            if written is None:
                return False
            self.stats.spooled += written
        return True

    def _body(self, item: _Item) -> str:
        return json.dumps(self._finalized(item), separators=(",", ":"))

    def _finalized(self, item: _Item) -> dict[str, Any]:
        if self._context is None:
            self._context = dict(self._context_fn())
        return finalize(item.raw, self._job, self._context)

    def _message_id(self, item: _Item) -> str:
        return f"msg_{self._session}_{item.seq}"
