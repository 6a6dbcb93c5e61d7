"""How many requests a client may send: a fixed window of `limit` per `window_s`.

Per connection the count lives in memory. Per user it lives in a KV bucket that every
gateway replica shares, keyed by the user and the window, and updated with a revision
check so replicas never lose each other's counts. When NATS cannot be reached the
shared limiter falls back to counting locally: a bus outage never locks clients out.
"""

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

import nats.errors
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from vigil.bus import Bus
from vigil.streams import RATE_LIMITS

log = logging.getLogger(__name__)

_ATTEMPTS = 8
_KV_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after_s: float


class RateLimiter(Protocol):
    async def hit(self, key: str) -> Verdict: ...

    def forget(self, key: str) -> None: ...


@dataclass(frozen=True)
class _Window:
    index: int
    ends_at: float


def _window(window_s: float) -> _Window:
    now = time.time()
    index = math.floor(now / window_s)
    return _Window(index, (index + 1) * window_s)


def _verdict(count: int, limit: int, window: _Window) -> Verdict:
    allowed = count <= limit
    retry = 0.0 if allowed else max(0.0, window.ends_at - time.time())
    return Verdict(allowed, max(0, limit - count), round(retry, 3))


class LocalRateLimiter:
    def __init__(self, limit: int, window_s: float) -> None:
        self._limit = limit
        self._window_s = window_s
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window index, count)

    async def hit(self, key: str) -> Verdict:
        window = _window(self._window_s)
        index, count = self._counts.get(key, (window.index, 0))
        count = count + 1 if index == window.index else 1
        self._counts[key] = (window.index, count)
        return _verdict(count, self._limit, window)

    def forget(self, key: str) -> None:
        self._counts.pop(key, None)


class SharedRateLimiter:
    def __init__(self, bus: Bus, limit: int, window_s: float) -> None:
        self._bus = bus
        self._limit = limit
        self._window_s = window_s
        self._fallback = LocalRateLimiter(limit, window_s)

    async def hit(self, key: str) -> Verdict:
        window = _window(self._window_s)
        entry_key = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.{window.index}"
        if not self._bus.is_connected:
            return await self._fallback.hit(key)
        try:
            count = await asyncio.wait_for(self._increment(entry_key), _KV_TIMEOUT_S)
        except (nats.errors.Error, TimeoutError, RuntimeError) as exc:
            log.warning("shared rate limit unavailable (%s); counting locally", exc)
            return await self._fallback.hit(key)
        return _verdict(count, self._limit, window)

    def forget(self, key: str) -> None:
        self._fallback.forget(key)

    async def _increment(self, entry_key: str) -> int:
        kv = await self._bus.kv(RATE_LIMITS)
        for _ in range(_ATTEMPTS):
            try:
                entry = await kv.get(entry_key)
            except KeyNotFoundError:
                try:
                    await kv.create(entry_key, b"1")
                    return 1
                except KeyWrongLastSequenceError:  # another replica created it first
                    continue
            count = int(entry.value or b"0") + 1
            try:
                await kv.update(entry_key, str(count).encode(), last=entry.revision)
                return count
            except KeyWrongLastSequenceError:  # another replica counted first: again
                continue
        raise TimeoutError("the shared rate-limit counter is too contended")
