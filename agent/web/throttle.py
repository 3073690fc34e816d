"""Sign-in attempts, rate-limited: a password guesser gets a handful of tries, then waits
longer and longer.

Failures are counted per key: the client's address together with the name
tried (so a stranger cannot lock a person out: only that address, for that
name, waits), and the address alone with a higher allowance (so one address
cannot spray guesses over every name). Past its allowance a key waits
`base_s`, then twice that after its next failure, and so on up to `max_wait_s`.
A key is forgotten `forget_s` after its last failure, or on a success; at most
`max_keys` keys are kept, the least recently failed dropped first, so memory
stays bounded whatever addresses and names are sprayed at it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PER_NAME = 5  # free failures per address and name
PER_ADDRESS = 30  # free failures per address, over every name
BASE_S = 2.0
MAX_WAIT_S = 900.0
FORGET_S = 3600.0
MAX_KEYS = 10_000


def keys_for(address: str, name: str | None = None) -> list[tuple[str, int]]:
    """The keys an attempt counts against, each with its free failures."""
    keys = [(f"address:{address}", PER_ADDRESS)]
    if name is not None:
        keys.insert(0, (f"name:{address}|{name}", PER_NAME))
    return keys


@dataclass
class _Count:
    failures: int
    last: float


class LoginThrottle:
    def __init__(
        self,
        base_s: float = BASE_S,
        max_wait_s: float = MAX_WAIT_S,
        forget_s: float = FORGET_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_s = base_s
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self.clock = clock
        self._counts: OrderedDict[str, _Count] = OrderedDict()  # oldest failure first

    def retry_after(self, keys: Iterable[tuple[str, int]]) -> float:
        """Seconds until an attempt on these keys may be made; 0 when now."""
        now = self.clock()
        self._forget_old(now)
        wait = 0.0
        for key, allowed in keys:
            count = self._counts.get(key)
            if count is not None and count.failures >= allowed:
                backoff = min(self.base_s * 2 ** (count.failures - allowed), self.max_wait_s)
                wait = max(wait, count.last + backoff - now)
        return max(wait, 0.0)

    def failed(self, keys: Iterable[tuple[str, int]]) -> None:
        now = self.clock()
        for key, _ in keys:
            count = self._counts.pop(key, None) or _Count(0, now)
            count.failures += 1
            count.last = now
            self._counts[key] = count  # to the end: the most recent
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)

    def succeeded(self, keys: Iterable[tuple[str, int]]) -> None:
        """A right password clears its name's count (not the address's: one good account
        must not reset an address that sprays guesses)."""
        for key, _ in keys:
            if key.startswith("name:"):
                self._counts.pop(key, None)

    def __len__(self) -> int:
        return len(self._counts)

    def _forget_old(self, now: float) -> None:
        while self._counts:
            key, count = next(iter(self._counts.items()))
            if now - count.last < self.forget_s:
                return
            del self._counts[key]
