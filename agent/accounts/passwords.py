"""Password hashes: scrypt with OWASP's parameters, checked off the event loop.

New hashes use N=2^17, r=8, p=1 (OWASP Password Storage Cheat Sheet), a 16-byte
salt and a 32-byte key: `scrypt$131072$8$1$<salt>$<hash>`. A hash made with
weaker parameters still verifies, and `needs_upgrade` says to hash the password
again once it is known (at its owner's next sign-in).

Each check costs ~128 MiB and a good fraction of a second on purpose, so
`PasswordChecker` runs it in a worker thread (the page keeps answering) and at
most `CONCURRENT` at a time (a burst of sign-ins cannot exhaust memory). An
unknown name is checked against a decoy hash with the same parameters (random
salt, random key: nothing matches it): it costs exactly what a known name
costs, so timing tells nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

N, R, P = 2**17, 8, 1
SCHEME = "scrypt"
CONCURRENT = 2
# 128 * N * r bytes for N=2^17, r=8, plus headroom; also the ceiling a stored hash may ask.
MAX_MEMORY = 2**28


class PasswordError(ValueError):
    """A password or hash is unusable; the message says what would be valid."""


def hash_password(password: str, *, n: int = N) -> str:
    """A new hash (`n` below N only to make old-style hashes in tests)."""
    if not password:
        raise PasswordError("the password is empty")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, R, P)
    return "$".join([SCHEME, str(n), str(R), str(P), _b64(salt), _b64(digest)])


def verify_password(password: str, hashed: str | None) -> bool:
    """True when `password` matches; False for a wrong one, no hash, or an unreadable hash."""
    if not hashed:
        return False
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def needs_upgrade(hashed: str | None) -> bool:
    """Whether a hash was made with weaker parameters than new ones get."""
    try:
        _, n, r, p, _, _ = (hashed or "").split("$")
        return int(n) < N or int(r) < R
    except ValueError:
        return False


def check_hash(hashed: str) -> None:
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(p.isdigit() for p in parts[1:4]):
        raise PasswordError(
            "a password must be an scrypt hash made by `mlops-agent web-user`"
            f" (scrypt${N}${R}${P}$<salt>$<hash>), not the password itself"
        )


class PasswordChecker:
    """Checks passwords in worker threads, a few at a time, unknown names included."""

    def __init__(self, concurrent: int = CONCURRENT) -> None:
        self._slots = asyncio.Semaphore(concurrent)
        salt, key = _b64(secrets.token_bytes(16)), _b64(secrets.token_bytes(32))
        self.decoy = "$".join([SCHEME, str(N), str(R), str(P), salt, key])
        self.checked: list[str] = []  # the hash each check ran (what tests measure work by)

    async def check(self, password: str, hashed: str | None) -> bool:
        """Whether `password` matches `hashed`; with no hash (unknown name, a user who signs
        in only by link) the same work is done against the decoy, and the answer is no."""
        against = hashed or self.decoy
        async with self._slots:
            self.checked = [*self.checked[-99:], against]
            ok = await asyncio.to_thread(verify_password, password, against)
        return ok and hashed is not None

    async def rehash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_password, password)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=MAX_MEMORY)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
