"""Stale state: the newest value of a source that stopped is marked stale, not shown
as live.

A sampled state (host metrics, Docker stats, Kubernetes metrics) says how often it
comes (`interval_s`). A feed's `Staleness` keeps, per subject, when its newest value
was published and that interval; once the value is older than 3 intervals (by
default, `StaleAfter`: one late sample is jitter, three is a source that stopped),
the feed's subscribers are told `stale`, and a subscriber that comes later is told
right after its snapshot; sooner, with a `reason`, where the collector says its
source stopped answering (`source_status`), or when the gateway loses the bus (no
value can come then, whatever the source does: `bus_lost`). The next newer value is
preceded by `fresh`. Event-driven states (container and pod status) change when something
happens, so their age says nothing: they are not watched.

Age is counted from the JetStream timestamp (the NATS server's clock, one for every
collector) rather than the sample's `time` (the collector's own clock, which may be
off), then on the gateway's monotonic clock. So a feed that starts after its source
died sees the last value's age at once and marks it stale on the next loop turn.

One timer per feed, at the earliest deadline of its subjects: a value coming in moves
its subject's deadline without touching the timer (the timer looks again when it fires).
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from vigil.messages import Fresh, Stale
from vigil.model import Message
from vigil_gateway.transport.backlog import Slot

Tell = Callable[[str], None]  # a control frame for every subscriber of the feed


@dataclass
class _Watched:
    published_at: float  # epoch seconds (the JetStream timestamp)
    interval_s: float
    deadline: float  # loop time when it goes stale
    stale: bool = False
    reason: str | None = None  # the collector's, when it said its source is down


def interval_of(message: Message) -> float | None:
    """How often a state comes, if it is sampled."""
    interval = getattr(message, "interval_s", None)
    return float(interval) if isinstance(interval, int | float) and interval > 0 else None


@dataclass(frozen=True)
class StaleAfter:
    """When a sampled value is stale: older than `intervals` of its intervals, and than
    `min_s` (a floor, so that very short intervals do not flap on a busy machine)."""

    intervals: float = 3.0
    min_s: float = 3.0

    def limit_s(self, interval_s: float) -> float:
        return max(self.intervals * interval_s, self.min_s)


DEFAULT_STALE_AFTER = StaleAfter()


class Staleness:
    def __init__(self, channel_key: str, prefix: str, after: StaleAfter, tell: Tell) -> None:
        self._channel_key = channel_key
        self._prefix = len(prefix) + 1
        self._after = after
        self._tell = tell
        self._watched: dict[Slot, _Watched] = {}
        self._said_down: dict[Slot, tuple[float, str]] = {}  # by the collector: when, why
        self._timer: asyncio.TimerHandle | None = None

    def seen(self, slot: Slot, message: Message, published_at: float | None) -> None:
        """A value of the slot's subject, delivered now; if the subject was stale and
        this value is newer, subscribers are told `fresh` (before the value)."""
        watched = self._watched.get(slot)
        # A sampler's first value has no interval (no cycle before it: a collector whose
        # engine is back): it keeps the pace known, and is as fresh as any other.
        interval_s = interval_of(message) or (watched.interval_s if watched else None)
        if interval_s is None:
            return
        published_at = time.time() if published_at is None else published_at
        if watched is not None and published_at <= watched.published_at:
            return  # the same value again (a feed restarted after a NATS outage)
        loop = asyncio.get_running_loop()
        age_s = max(0.0, time.time() - published_at)
        deadline = loop.time() - age_s + self._after.limit_s(interval_s)
        self._watched[slot] = _Watched(published_at, interval_s, deadline)
        said = self._said_down.get(slot)
        if said is not None and said[0] >= published_at:  # the source went down after it
            newest = self._watched[slot]
            if watched is not None and watched.stale:  # said already: still stale
                newest.stale, newest.reason = True, said[1]
            else:
                self._mark(slot, newest, said[1])
            return
        if watched is not None and watched.stale:
            self._tell(Fresh(channel=self._channel_key, key=self._key(slot)).model_dump_json())
        if self._timer is None or deadline < self._timer.when():
            self._schedule(deadline)

    def source_said(self, slot: Slot, said_at: float, down: str | None) -> None:
        """The slot's collector says (at `said_at`, a JetStream timestamp) that its
        source stopped answering (`down`: why) or answers: stale at once, unless a
        value came after it said so."""
        if down is None:
            self._said_down.pop(slot, None)
            return
        self._said_down[slot] = (said_at, down)
        watched = self._watched.get(slot)
        if watched is not None and not watched.stale and said_at >= watched.published_at:
            self._mark(slot, watched, down)

    def bus_lost(self, reason: str) -> None:
        """No value can come now: every watched value is stale at once, with `reason`."""
        for slot, watched in self._watched.items():
            if not watched.stale:
                self._mark(slot, watched, reason)

    def marks(self) -> list[str]:
        """A `stale` frame for each stale subject, with its age now: for a subscriber
        that just got the snapshot."""
        return [
            self._stale(slot, watched) for slot, watched in self._watched.items() if watched.stale
        ]

    def resume(self) -> None:
        """Watch again after `pause` (the feed started again)."""
        live = [watched.deadline for watched in self._watched.values() if not watched.stale]
        if live and self._timer is None:
            self._schedule(min(live))

    def pause(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        next_deadline: float | None = None
        for slot, watched in self._watched.items():
            if watched.stale:
                continue
            if watched.deadline <= now:
                self._mark(slot, watched, None)
            elif next_deadline is None or watched.deadline < next_deadline:
                next_deadline = watched.deadline
        if next_deadline is not None:
            self._schedule(next_deadline)

    def _mark(self, slot: Slot, watched: _Watched, reason: str | None) -> None:
        watched.stale, watched.reason = True, reason
        self._tell(self._stale(slot, watched))

    def _stale(self, slot: Slot, watched: _Watched) -> str:
        age_s = round(max(0.0, time.time() - watched.published_at), 3)
        stale = Stale(
            channel=self._channel_key,
            key=self._key(slot),
            age_s=age_s,
            interval_s=watched.interval_s,
            reason=watched.reason,
        )
        return stale.model_dump_json()

    def _key(self, slot: Slot) -> str:
        """Which state of the channel: its subject without the deployment's prefix (as
        the `key` of deltas)."""
        return slot[1][self._prefix :]
