"""Sign-in attempts, rate-limited: a password guesser gets a handful of tries, then waits.

Failures are counted per key (the client's address, the user name tried)
over a sliding window; a key with too many failures is refused, before any
password is checked, until its oldest failure leaves the window. A success
clears the keys it used.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

MAX_FAILURES = 5
WINDOW_S = 300.0
_KEYS_LIMIT = 10_000


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until these keys may try again; 0 when they may now."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                wait = max(wait, failures[0] + self.window_s - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > _KEYS_LIMIT:  # bounded memory against address spraying
            for key in [k for k, v in self._failures.items() if not v][: _KEYS_LIMIT // 2]:
                del self._failures[key]

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures
