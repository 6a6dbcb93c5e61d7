"""How many requests a client may send, so that no client can make the gateway work for
it without end, while a person clicking through the dashboard (or a CLI) never trips it.

Two policies (`VIGIL_GATEWAY_RATE_LIMIT`):

- `bucket` (the default): a token bucket per kind of request, with a burst and a steady
  refill. Subscriptions (subscribe, unsubscribe: what changing a dashboard view sends, a
  handful at once) have a budget of their own, apart from every other request (pings,
  reauths, and messages that draw an error), so neither starves the other.
- `window`: seed 003's rule, `rate_limit_messages` per `rate_limit_window_s`, every
  request counted alike.

A policy is a pure function from the stored state of one key to its new state and a
verdict; where the state lives is the limiter's concern. Per connection it lives in
memory. Per user it lives in a KV bucket that every gateway replica shares, updated with
a revision check so replicas never lose each other's counts; when NATS cannot be reached
the shared limiter counts locally: a bus outage never locks clients out.
"""

import asyncio
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import nats.errors
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from vigil.bus import Bus
from vigil.streams import RATE_LIMITS
from vigil_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

_ATTEMPTS = 8
_KV_TIMEOUT_S = 1.0


class RequestKind(StrEnum):
    SUBSCRIPTIONS = "subscriptions"  # subscribe, unsubscribe
    REQUESTS = "requests"  # everything else that is answered


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after_s: float


class Policy(Protocol):
    def slot(self, now: float) -> str:
        """What part of the key's state `now` falls in ("" for a policy with no slots)."""
        ...

    def take(self, state: bytes | None, now: float) -> tuple[bytes, Verdict]:
        """The key's state after one more request at `now` (None: a key never seen, or
        whose state expired), and the verdict on that request."""
        ...

    def describe(self) -> str:
        """The limit, for the message a refused client reads."""
        ...


@dataclass(frozen=True)
class FixedWindow:
    """`limit` requests per `window_s`, counted in fixed windows (seed 003)."""

    limit: int
    window_s: float

    def slot(self, now: float) -> str:
        return str(math.floor(now / self.window_s))

    def take(self, state: bytes | None, now: float) -> tuple[bytes, Verdict]:
        count = int(state or b"0") + 1
        allowed = count <= self.limit
        ends_at = (math.floor(now / self.window_s) + 1) * self.window_s
        retry = 0.0 if allowed else max(0.0, ends_at - now)
        return str(count).encode(), Verdict(allowed, max(0, self.limit - count), round(retry, 3))

    def describe(self) -> str:
        return f"more than {self.limit} requests in {self.window_s:g} s"


@dataclass(frozen=True)
class TokenBucket:
    """Up to `burst` requests at once, then `per_s` a second as the bucket refills."""

    burst: int
    per_s: float

    def slot(self, now: float) -> str:
        return ""

    def take(self, state: bytes | None, now: float) -> tuple[bytes, Verdict]:
        tokens, at = float(self.burst), now
        if state:
            stored = json.loads(state)
            tokens, at = float(stored["tokens"]), float(stored["at"])
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.per_s)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        retry = 0.0 if allowed else (1.0 - tokens) / self.per_s
        verdict = Verdict(allowed, math.floor(tokens), round(retry, 3))
        return json.dumps({"tokens": round(tokens, 6), "at": now}).encode(), verdict

    def describe(self) -> str:
        return f"more than {self.burst} requests at once, or {self.per_s:g} a second after"


class RateLimiter(Protocol):
    async def hit(self, key: str) -> Verdict: ...

    def forget(self, key: str) -> None: ...

    @property
    def policy(self) -> Policy: ...


class LocalRateLimiter:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._states: dict[str, tuple[str, bytes]] = {}  # key -> (slot, state)

    async def hit(self, key: str) -> Verdict:
        now = time.time()
        slot = self.policy.slot(now)
        held_slot, state = self._states.get(key, (slot, b""))
        state, verdict = self.policy.take(state if held_slot == slot else None, now)
        self._states[key] = (slot, state)
        return verdict

    def forget(self, key: str) -> None:
        self._states.pop(key, None)


class SharedRateLimiter:
    def __init__(self, bus: Bus, policy: Policy) -> None:
        self.policy = policy
        self._bus = bus
        self._fallback = LocalRateLimiter(policy)

    async def hit(self, key: str) -> Verdict:
        if not self._bus.is_connected:
            return await self._fallback.hit(key)
        now = time.time()
        entry = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.{self.policy.slot(now) or 'b'}"
        try:
            return await asyncio.wait_for(self._take(entry, now), _KV_TIMEOUT_S)
        except (nats.errors.Error, TimeoutError, RuntimeError) as exc:
            log.warning("shared rate limit unavailable (%s); counting locally", exc)
            return await self._fallback.hit(key)

    def forget(self, key: str) -> None:
        self._fallback.forget(key)

    async def _take(self, entry_key: str, now: float) -> Verdict:
        kv = await self._bus.kv(RATE_LIMITS)
        for _ in range(_ATTEMPTS):
            try:
                entry = await kv.get(entry_key)
            except KeyNotFoundError:
                state, verdict = self.policy.take(None, now)
                try:
                    await kv.create(entry_key, state)
                    return verdict
                except KeyWrongLastSequenceError:  # another replica created it first
                    continue
            state, verdict = self.policy.take(entry.value, now)
            try:
                await kv.update(entry_key, state, last=entry.revision)
                return verdict
            except KeyWrongLastSequenceError:  # another replica counted first: again
                continue
        raise TimeoutError("the shared rate-limit counter is too contended")


class RateLimits:
    """The limiter of each kind of request, as the gateway's settings choose them."""

    def __init__(self, settings: GatewaySettings, bus: Bus) -> None:
        def limiter(policy: Policy) -> RateLimiter:
            if settings.share_rate_limit:
                return SharedRateLimiter(bus, policy)
            return LocalRateLimiter(policy)

        if settings.rate_limit == "window":  # seed 003: every request counted alike
            every = limiter(FixedWindow(settings.rate_limit_messages, settings.rate_limit_window_s))
            self._by_kind = dict.fromkeys(RequestKind, every)
        else:
            self._by_kind = {
                RequestKind.SUBSCRIPTIONS: limiter(
                    TokenBucket(
                        settings.rate_limit_subscribe_burst, settings.rate_limit_subscribe_per_s
                    )
                ),
                RequestKind.REQUESTS: limiter(
                    TokenBucket(settings.rate_limit_burst, settings.rate_limit_per_s)
                ),
            }
        self._shared = len(set(map(id, self._by_kind.values()))) == 1

    async def hit(self, key: str, kind: RequestKind) -> Verdict:
        name = key if self._shared else f"{key}:{kind}"
        return await self._by_kind[kind].hit(name)

    def describe(self, kind: RequestKind) -> str:
        return self._by_kind[kind].policy.describe()

    def forget(self, key: str) -> None:
        for kind, limiter in self._by_kind.items():
            limiter.forget(key if self._shared else f"{key}:{kind}")
