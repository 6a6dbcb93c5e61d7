"""Password hashing: argon2id (argon2-cffi), off the event loop, a bounded few at once.

`verify` costs the same whether or not the user exists: for an unknown user it checks
the password against a dummy hash made with the same parameters, so the time taken
tells an attacker nothing about which usernames are real.
"""

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, max_concurrent: int, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._slots = asyncio.Semaphore(max_concurrent)
        self._dummy: str | None = None

    async def prepare(self) -> None:
        """Make the dummy hash now, so the first unknown user costs no more than the rest."""
        await self._dummy_hash()

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown user) it takes as long, and fails."""
        if password_hash is None:
            await self._verify(await self._dummy_hash(), password)
            return False
        return await self._verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)

    async def _verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self._hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        return self._dummy
