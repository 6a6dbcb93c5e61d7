"""One feed per channel, shared by every client of this gateway replica (`feed`).

The first client of a channel starts its feed; the last client to leave stops it. A
feed NATS refuses to start is tried again until it runs, and after a NATS reconnect
every feed starts again.

A client that resumes (`since`), or subscribes to a channel that replays its whole
history (`from_start`, a deploy's journal), joins the shared feed too, held back from
its stream and journal messages while it catches up on its own (`catchup`), at its own
pace, through a consumer that lives only while it reads; the feed then takes it over at
the sequence delivered last. If the stream no longer holds what follows a `since`, the
client gets a `reset` and delivery goes on from the oldest message kept.

Joins and leaves of one channel are serialized by that channel's lock, held across the
NATS round trips of its feed's start and stop; a channel whose feed is slow to start
(a stream whose leader NATS is still electing) holds up no other channel's clients.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import nats.errors

from vigil.bus import Bus
from vigil.channels import ChannelKind, ChannelRef
from vigil.lifecycle import stop_task
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.delivery.catchup import CatchUp
from vigil_gateway.delivery.feed import Feed
from vigil_gateway.delivery.keyed_locks import KeyedLocks
from vigil_gateway.delivery.options import NO_OPTIONS, Options
from vigil_gateway.delivery.staleness import StaleAfter
from vigil_gateway.filters.logs import filter_of
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.outbox import Outbox

log = logging.getLogger(__name__)

RETRY_START_S = 0.5  # between starts of a feed NATS refused

_Key = TypeVar("_Key", str, tuple[str, int])  # a shared feed's, a private one's


class ChannelFeed(Protocol):
    """What the hub needs of a feed: `Feed`, or another kind a channel asks for
    (`make`), such as a merged view of selected containers."""

    channel: ChannelRef

    @property
    def idle(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def attach(self, outbox: Outbox, options: Options, sees_cluster: SeesCluster) -> None:
        """`sees_cluster`: whether the subscriber may see a cluster, for a feed that
        spans several (whose lines it must filter per subscriber)."""
        ...

    def detach(self, outbox: Outbox) -> None: ...


FeedMaker = Callable[[ChannelRef, int | None], ChannelFeed]  # channel, resume after


class FeedWatcher(Protocol):
    """Told about the feeds of one channel (e.g. to hold a log lease while they live)."""

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        """The channel to join for what a client whose grant is `sees_cluster` asked, or
        raise `ChannelRefused` (e.g. `FORBIDDEN` for a deploy of a cluster not granted)."""
        ...

    def started(self, channel: ChannelRef) -> None: ...

    def stopped(self, channel: ChannelRef) -> None: ...

    def polled(self, channel: ChannelRef) -> None:
        """The channel was polled (HTTP, no feed): demand for a while."""
        ...


class Hub:
    def __init__(
        self,
        bus: Bus,
        metrics: GatewayMetrics,
        flusher: Flusher,
        stale_after: StaleAfter | None = None,
        *,
        max_replays: int = 32,
    ) -> None:
        self._bus = bus
        self._stale_after = stale_after
        self._metrics = metrics
        self._flusher = flusher
        self._feeds: dict[str, ChannelFeed] = {}  # shared, by channel key
        self._private: dict[tuple[str, int], ChannelFeed] = {}  # resuming: (key, id(outbox))
        self._catching_up: dict[tuple[str, int], CatchUp] = {}  # (key, id(outbox))
        self._replay_slots = asyncio.Semaphore(max_replays)  # consumers replaying at once
        self._makers: dict[str, FeedMaker] = {}  # by channel name, where not a `Feed`
        self._locks = KeyedLocks()  # by channel key
        self._watchers: dict[str, FeedWatcher] = {}  # by channel name
        self._unstarted: list[ChannelFeed] = []  # NATS refused their start: tried again
        self._retrying: asyncio.Task[None] | None = None

    @property
    def bus(self) -> Bus:
        return self._bus

    def watch(self, channel_name: str, watcher: FeedWatcher) -> None:
        self._watchers[channel_name] = watcher

    def make(self, channel_name: str, maker: FeedMaker) -> None:
        """The channel's feeds are made by `maker`, not as a `Feed` of fixed sources."""
        self._makers[channel_name] = maker

    def demand(self, channel: ChannelRef, on: bool) -> None:
        """Someone other than a feed wants the channel's source (a merged view wants
        a container's logs): its watcher holds (or gives up) what it needs."""
        self._tell_watcher(channel, started=on)

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        """What a client whose grant is `sees_cluster` asked for, made into what to join
        by the channel's watcher (raises `ChannelRefused`, also for a log filter that
        cannot be used)."""
        filter_of(channel)
        watcher = self._watchers.get(channel.spec.name)
        return channel if watcher is None else await watcher.admit(channel, sees_cluster)

    def polled(self, channel: ChannelRef) -> None:
        watcher = self._watchers.get(channel.spec.name)
        if watcher is not None:
            watcher.polled(channel)

    def _tell_watcher(self, channel: ChannelRef, *, started: bool) -> None:
        watcher = self._watchers.get(channel.spec.name)
        if watcher is not None:
            (watcher.started if started else watcher.stopped)(channel)

    async def join(
        self,
        channel: ChannelRef,
        outbox: Outbox,
        options: Options = NO_OPTIONS,
        *,
        sees_cluster: SeesCluster,
        announce: Sequence[str] = (),
    ) -> None:
        """Attach `outbox` to the channel's feed, starting it if it is the first; with
        `options.since` (or on a channel replayed from its start), held back from its
        stream messages while it catches up on its own (`CatchUp`), then handed over.
        `sees_cluster` says which clusters' data the subscriber may get from a feed
        that spans clusters (a shared merged view filters its lines by it).

        `announce` (the `subscribed` frame, the history asked first) is queued once the
        feed is live and before any of its data, so a client that hears it misses
        nothing published after. While NATS is away the feed waits, registered, and
        starts on reconnect.
        """
        since = options.since
        async with self._locks.hold(channel.key):
            catching_up = since is not None or channel.spec.from_start  # from its own point
            catching_up = catching_up and channel.spec.kind is not ChannelKind.STATE
            self._metrics.resumes += catching_up and since is not None
            own = catching_up and channel.spec.name in self._makers  # resumes by itself
            new = own or channel.key not in self._feeds
            feed: ChannelFeed
            if own:
                feed = self._private[(channel.key, id(outbox))] = self._feed(channel, since)
            elif channel.key in self._feeds:
                feed = self._feeds[channel.key]
            else:
                feed = self._feeds[channel.key] = self._feed(channel, None)
            if self._bus.is_connected:
                await self._start(feed)
            if new:  # after its consumer exists, so it sees what the watcher causes
                self._tell_watcher(channel, started=True)
            for frame in announce:
                outbox.put_control(frame)
            if not catching_up or own:
                feed.attach(outbox, options, sees_cluster)
                return
            assert isinstance(feed, Feed)  # a channel of fixed sources
            feed.attach(outbox, options, sees_cluster, held=True)
            catch_up = CatchUp(
                feed,
                outbox,
                since,
                bus=self._bus,
                slots=self._replay_slots,
                metrics=self._metrics,
            )
            self._catching_up[(channel.key, id(outbox))] = catch_up
            catch_up.start()

    async def rejoin(
        self,
        channel: ChannelRef,
        outbox: Outbox,
        options: Options,
        *,
        sees_cluster: SeesCluster,
        announce: Sequence[str],
    ) -> None:
        """A state channel's subscriber again, with new `options`: from a fresh snapshot
        of the feed it is on."""
        async with self._locks.hold(channel.key):
            feed = self._feeds[channel.key]
            feed.detach(outbox)
            for frame in announce:
                outbox.put_control(frame)
            feed.attach(outbox, options, sees_cluster)

    async def leave(self, channel: ChannelRef, outbox: Outbox) -> None:
        async with self._locks.hold(channel.key):
            catch_up = self._catching_up.pop((channel.key, id(outbox)), None)
            if catch_up is not None:
                await catch_up.stop()
            private = self._private.pop((channel.key, id(outbox)), None)
            if private is not None:
                await private.stop()
                self._tell_watcher(channel, started=False)
                return
            feed = self._feeds.get(channel.key)
            if feed is None:
                return
            feed.detach(outbox)
            if feed.idle:
                del self._feeds[channel.key]
                await feed.stop()
                self._tell_watcher(channel, started=False)

    def bus_lost(self, reason: str) -> None:
        """Every sampled state of every feed is marked stale (`Feed.bus_lost`)."""
        for feed in self._all():
            if isinstance(feed, Feed):
                feed.bus_lost(reason)

    async def restart(self) -> None:
        """Start every feed again on the current connection (after a reconnect)."""
        for feed in self._all():
            async with self._locks.hold(feed.channel.key):
                if self._is_live(feed):
                    await feed.stop()
                    await self._start(feed)

    async def close(self) -> None:
        if self._retrying is not None:
            await stop_task(self._retrying)
        for catch_up in list(self._catching_up.values()):
            await catch_up.stop()
        self._catching_up.clear()
        await self._stop_every(self._feeds)
        await self._stop_every(self._private)

    async def _stop_every(self, table: dict[_Key, ChannelFeed]) -> None:
        for key, feed in list(table.items()):
            async with self._locks.hold(feed.channel.key):
                if table.get(key) is feed:  # not left meanwhile
                    del table[key]
                    await feed.stop()
                    self._tell_watcher(feed.channel, started=False)

    def _feed(self, channel: ChannelRef, since: int | None) -> ChannelFeed:
        maker = self._makers.get(channel.spec.name)
        if maker is not None:
            return maker(channel, since)
        return Feed(channel, self._bus, self._metrics, self._flusher, stale_after=self._stale_after)

    def _all(self) -> list[ChannelFeed]:
        return [*self._feeds.values(), *self._private.values()]

    def _is_live(self, feed: ChannelFeed) -> bool:
        """Not left since it was looked up (asked under its channel's lock)."""
        if self._feeds.get(feed.channel.key) is feed:
            return True
        return any(feed is private for private in self._private.values())

    async def _start(self, feed: ChannelFeed) -> None:
        try:
            await feed.start()
        except (nats.errors.Error, TimeoutError) as exc:
            # e.g. a timeout while a NATS cluster elects a stream's new leader: there may
            # be no other reconnect to start it again, so it is tried again until it runs
            log.warning("could not start the feed of %s (trying again): %s", feed.channel.key, exc)
            self._unstarted.append(feed)
            if self._retrying is None or self._retrying.done():
                self._retrying = asyncio.create_task(self._start_unstarted())

    async def _start_unstarted(self) -> None:
        while self._unstarted:
            await asyncio.sleep(RETRY_START_S)
            feeds, self._unstarted = self._unstarted, []
            for feed in feeds:
                async with self._locks.hold(feed.channel.key):
                    if self._is_live(feed):
                        await self._start(feed)
