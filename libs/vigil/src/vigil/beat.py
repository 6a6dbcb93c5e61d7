"""A fixed beat for sampling loops: one sample every `interval_s`, on time.

The beats are counted from the first, so the time a sample takes does not push the
next one later. A beat missed (a sample slower than the interval, a suspended
machine) is not made up with a burst: the beat goes on from then.

    beat = Beat(interval_s)
    while True:
        await beat.wait()
        ...  # sample and publish
"""

import asyncio
import time


class Beat:
    """The times of a sampling loop: the first at once (or after one interval, when
    `at_once` is false), then every `interval_s` after it."""

    __slots__ = ("_at_once", "_interval_s", "_next_at")

    def __init__(self, interval_s: float, *, at_once: bool = True) -> None:
        self._interval_s = interval_s
        self._at_once = at_once
        self._next_at: float | None = None

    async def wait(self) -> None:
        """Until the next beat: at once when it is already past (no catching up)."""
        now = time.monotonic()
        if self._next_at is None:  # the first beat
            self._next_at = now
            if self._at_once:
                return
        # One interval after the last beat; if that is past (a slow sample, a suspended
        # machine), now: a beat missed is not made up with a burst.
        self._next_at = max(self._next_at + self._interval_s, now)
        await asyncio.sleep(max(0.0, self._next_at - time.monotonic()))
