"""Password hashing: argon2id (argon2-cffi), off the event loop, in a bounded queue.

Hashes wait their turn in `vigil_auth.hash_queue`: a few at once, and a login or user
creation whose hash could not finish within `within_s` is refused (`HashesBusy`)
before it starts.

`verify` costs the same whether or not the user exists: for an unknown user it checks
the password against a dummy hash made with the same parameters, so the time taken
tells an attacker nothing about which usernames are real.
"""

import math
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vigil_auth.hash_queue import HashQueue


class Passwords:
    def __init__(
        self, max_concurrent: int, max_waiting: int, hasher: PasswordHasher | None = None
    ) -> None:
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._queue = HashQueue(max_concurrent, max_waiting)
        self._dummy: str | None = None

    async def prepare(self) -> None:
        """Make the dummy hash now, so the first unknown user costs no more than the rest
        (and the queue knows how long a hash takes here before the first request)."""
        started = time.monotonic()
        await self._dummy_hash()
        self._queue.typical_s = time.monotonic() - started

    async def hash(self, password: str, *, within_s: float = math.inf) -> str:
        """The hash of `password`; `HashesBusy` if it could not be done within `within_s`."""
        return await self._queue.run(lambda: self._hasher.hash(password), within_s=within_s)

    async def verify(
        self, password_hash: str | None, password: str, *, within_s: float = math.inf
    ) -> bool:
        """Whether `password` matches; with no hash (unknown user) it takes as long, and
        fails. `HashesBusy` if it could not be checked within `within_s`."""
        if password_hash is None:
            await self._verify(await self._dummy_hash(), password, within_s)
            return False
        return await self._verify(password_hash, password, within_s)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)

    async def _verify(self, password_hash: str, password: str, within_s: float) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self._queue.run(check, within_s=within_s)

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy
