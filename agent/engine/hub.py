"""A small in-process publish/subscribe hub: "conversation X changed", to whoever listens.

The outbox (a message posted or updated), the inbox (an item arrived) and the
turn log (a turn opened or closed) publish; the web page's server-sent-events
endpoint subscribes and tells each open browser which conversation to redraw.
Publishing never waits: a listener that falls behind loses its oldest news,
never the service's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

QUEUE_LIMIT = 256


@dataclass(frozen=True)
class Change:
    conversation: str | None  # None: not part of a conversation (an operational notice)
    what: str  # "message" | "item" | "turn"
    at: float = field(default_factory=time.time)


class Hub:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Change | None]] = set()

    def publish(self, conversation: str | None, what: str) -> None:
        change = Change(conversation, what)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # drop the oldest: a slow page redraws anyway
            queue.put_nowait(change)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Change | None]]:
        """A queue of changes until the block ends; `None` in it means the hub closed."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def close(self) -> None:
        """Tell every listener to stop (the service is stopping: open streams must end)."""
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
