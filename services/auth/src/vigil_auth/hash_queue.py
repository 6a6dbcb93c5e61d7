"""The queue of password hashes: a few at once, and no more waiting than can finish in time.

A password hash (argon2id) costs ~0.1-3 s of CPU and 64 MiB, so only `slots` run at once;
the rest wait their turn. The caller of a login or a user creation waits only so long
(`vigil.operations.Operation.timeout_s`), so a hash that would finish after it gave up
must never start: the caller would be told "unavailable" for work that was then done
(a user created, answered 503; its retry answered 409).

So each hash is admitted, or refused at once with `HashesBusy` (and when to come back),
before anything is done: admitted when, judging by how long recent hashes took, it can
finish within the time it is given; refused too when `max_waiting` already wait. One
admitted but then held up longer than foreseen is refused when its turn comes, still
before it starts.
"""

import asyncio
import math
import time
from collections.abc import Callable
from typing import TypeVar

from vigil_auth.errors import HashesBusy

T = TypeVar("T")

_LEARNING_RATE = 0.3  # weight of the newest hash in the typical duration


class HashQueue:
    def __init__(self, slots: int, max_waiting: int, typical_s: float = 1.0) -> None:
        """`typical_s`: the duration assumed until a hash was timed."""
        self._slots = slots
        self._max_waiting = max_waiting
        self._turns = asyncio.Semaphore(slots)
        self._running = 0
        self._waiting = 0
        self.typical_s = typical_s
        """How long a hash takes now: a moving average of the last ones."""

    @property
    def waiting(self) -> int:
        return self._waiting

    async def run(self, work: Callable[[], T], *, within_s: float = math.inf) -> T:
        """`work` (blocking: a hash) in a worker thread once a slot is free; `HashesBusy`
        at once, before it starts, when it could not finish within `within_s`."""
        admitted_at = time.monotonic()
        finish_s = self._finish_s(ahead=self._running + self._waiting)
        if self._waiting >= self._max_waiting or finish_s > within_s:
            raise self._busy(finish_s - within_s)
        self._waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self._waiting -= 1
        try:
            late_s = time.monotonic() - admitted_at + self.typical_s - within_s
            if late_s > 0:  # held up longer than foreseen: still nothing done
                raise self._busy(late_s)
            self._running += 1
            started = time.monotonic()
            try:
                result = await asyncio.to_thread(work)
            finally:
                self._running -= 1
            self._learn(time.monotonic() - started)
            return result
        finally:
            self._turns.release()

    def _finish_s(self, ahead: int) -> float:
        """When a hash admitted now would be done: after the rounds of those ahead of it
        (`slots` at a time), plus its own."""
        return (ahead // self._slots + 1) * self.typical_s

    def _busy(self, over_s: float) -> HashesBusy:
        # By then the queue has moved on by `over_s`; never sooner than one hash.
        return HashesBusy(self._running + self._waiting, max(over_s, self.typical_s))

    def _learn(self, took_s: float) -> None:
        self.typical_s += _LEARNING_RATE * (took_s - self.typical_s)
