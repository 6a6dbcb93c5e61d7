"""A subscriber's own pace on a state channel: at most one update per interval.

A dashboard tab in the background, or a phone, asks for `interval_s`: the throttle
stands between the channel's feed and the socket's outbox (which got the channel's
snapshot at once), keeps only the newest value of each subject, and hands them over
together at most once per interval. Stream and journal data passes through untouched: they are never
coalesced.
"""

import asyncio

from vigil_gateway.transport.backlog import Slot
from vigil_gateway.transport.outbox import Outbox
from vigil_gateway.transport.wire import Frame, Frames

# The newest value of a subject, waiting: its frames, when produced, and its snapshot
# (where the frames are a delta).
Held = tuple[Frames, float | None, Frames | None]


class Throttle:
    __slots__ = ("_held", "_interval_s", "_next_at", "_timer", "outbox")

    def __init__(self, outbox: Outbox, interval_s: float, *, paced_now: bool) -> None:
        self.outbox = outbox
        self._interval_s = interval_s
        self._held: dict[Slot, Held] = {}
        # From when the next value may go: an interval after the snapshot the outbox
        # was just given (`paced_now`), or at once if it has had none.
        self._next_at = asyncio.get_running_loop().time() + (interval_s if paced_now else 0)
        self._timer: asyncio.TimerHandle | None = None

    def put_state(
        self,
        slot: Slot,
        frames: Frames,
        produced_at: float | None = None,
        snapshot: Frames | None = None,
    ) -> bool:
        loop = asyncio.get_running_loop()
        if self._timer is None and loop.time() >= self._next_at:
            self._next_at = loop.time() + self._interval_s
            return self.outbox.put_state(slot, frames, produced_at, snapshot)
        held = self._held.get(slot)
        if held is not None:  # skipped: a delta from it would not apply
            frames = snapshot or frames
        self._held[slot] = (frames, produced_at, snapshot)  # the newest of each subject waits
        if self._timer is None:
            self._timer = loop.call_at(self._next_at, self._release)
        return False

    def put_stream(self, channel: str, frames: Frames, produced_at: float | None = None) -> bool:
        return self.outbox.put_stream(channel, frames, produced_at)

    def put_journal(self, channel: str, frames: Frames, produced_at: float | None = None) -> bool:
        return self.outbox.put_journal(channel, frames, produced_at)

    def put_control(self, text: str | Frame) -> None:
        self.outbox.put_control(text)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held.clear()

    def _release(self) -> None:
        self._timer = None
        self._next_at = asyncio.get_running_loop().time() + self._interval_s
        held, self._held = self._held, {}
        for slot, (frames, produced_at, snapshot) in held.items():
            self.outbox.put_state(slot, frames, produced_at, snapshot)
