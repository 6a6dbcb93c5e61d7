"""A cached JSON Web Key Set: fetched on first use, refreshed when a `kid` is unknown.

An unknown `kid` triggers one refresh (at most every `min_interval_s`, so forged
tokens with random kids cannot make the gateway hammer the key source).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

from vigil_gateway.errors import InvalidCredentials

Fetch = Callable[[], Awaitable[list[dict[str, Any]]]]


class KeySet:
    def __init__(self, fetch: Fetch, *, min_interval_s: float) -> None:
        self._fetch = fetch
        self._min_interval_s = min_interval_s
        self._keys: dict[str, PyJWK] = {}
        self._documents: list[dict[str, Any]] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        if kid not in self._keys:
            await self.refresh(only_if_older_than_s=self._min_interval_s)
        found = self._keys.get(kid)
        if found is None:
            raise InvalidCredentials("the token's signing key is unknown")
        return found

    async def refresh(self, *, only_if_older_than_s: float = 0.0) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._fetched_at is not None and now - self._fetched_at < only_if_older_than_s:
                return
            documents = await self._fetch()
            self._fetched_at = now
            keys = {}
            for document in documents:
                try:
                    keys[str(document["kid"])] = PyJWK(document)
                except (KeyError, PyJWKError):  # a key we cannot use verifies nothing
                    continue
            self._keys = keys
            self._documents = [d for d in documents if str(d.get("kid")) in keys]

    def documents(self) -> list[dict[str, Any]]:
        """The public keys as JWK documents (for `/.well-known/jwks.json`)."""
        return list(self._documents)
