"""One JetStream feed per channel, shared by every client of this gateway replica.

The first client of a channel starts its feed: an ordered consumer per source, from
the newest value of every subject (state) or from now (stream, journal). Each message
is rendered once, into frames built once, and offered to every subscribed
connection's outbox; the feed keeps
the newest frames of each state subject, so a later subscriber gets them at once. The
last client to leave stops it. After a NATS reconnect every feed starts again, stream
sources from the cursor they had reached, so an outage loses nothing that is kept.

A state channel numbers each subject's values for subscribers that asked for deltas
(`deltas`): they get a snapshot, then what changed, computed once per value.

A channel that replays its whole history (`from_start`, a deploy's journal) gives each
client a feed of its own from the first message. A client that resumes (`since`)
gets a feed of its own from that cursor; if the
stream no longer holds what follows it, the client gets a `reset` and delivery goes
on from the oldest message kept.
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Protocol

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelKind, ChannelRef, Source
from vigil.lifecycle import stop_task
from vigil.messages import ErrorCode, Reset
from vigil_gateway import replay
from vigil_gateway.backlog import Slot
from vigil_gateway.deltas import StateVersions
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.flusher import Flusher
from vigil_gateway.log_filters import InvalidFilter, LineFilter
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.options import NO_OPTIONS, Options
from vigil_gateway.outbox import Outbox
from vigil_gateway.throttle import Throttle
from vigil_gateway.views import Delivery, renderer_for
from vigil_gateway.wire import Frame

log = logging.getLogger(__name__)


class Feed:
    def __init__(
        self,
        channel: ChannelRef,
        bus: Bus,
        metrics: GatewayMetrics,
        flusher: Flusher,
        *,
        since: int | None = None,
        private: bool = False,
    ) -> None:
        self.channel = channel
        self._bus = bus
        self._metrics = metrics
        self._flusher = flusher
        self._render = renderer_for(channel)
        self._sources = channel.sources(bus.subjects)
        self._subscribers: dict[Outbox, Outbox | Throttle] = {}
        self._delta_subscribers: dict[Outbox, Outbox | Throttle] = {}
        self._latest: dict[Slot, tuple[Frame, ...]] = {}
        self._versions: StateVersions | None = None  # numbered values, for deltas
        if channel.spec.kind is ChannelKind.STATE:
            self._versions = StateVersions(channel, bus.subjects)
        self._subscriptions: list[
            JetStreamContext.PushSubscription | JetStreamContext.PullSubscription
        ] = []
        self._pulling: list[asyncio.Task[None]] = []
        self._private = private  # for one socket: reads streams at its pace (`replay`)
        self._attached = asyncio.Event()
        self._since = since
        self._cursors: dict[str, int] = {}  # stream source -> last sequence delivered
        self._pending: list[str] = []  # control frames for the first outbox to attach

    @property
    def idle(self) -> bool:
        return not self._subscribers and not self._delta_subscribers

    async def start(self) -> None:
        if self._subscriptions:
            return
        try:
            for source in self._sources:
                policy, config = await self._start_point(source)
                deliver = functools.partial(self._deliver, source)
                if self._private and source.kind is not ChannelKind.STATE:
                    pulled = await replay.pull_subscription(
                        self._bus.js, source.subject, policy, config
                    )
                    self._subscriptions.append(pulled)
                    task = asyncio.create_task(replay.pull(pulled, deliver, self._room))
                    self._pulling.append(task)
                    continue
                pushed = await self._bus.js.subscribe(
                    source.subject,
                    ordered_consumer=True,
                    deliver_policy=policy,
                    config=config,
                    cb=deliver,
                )
                self._subscriptions.append(pushed)
        except BaseException:
            await self.stop()
            raise

    async def _start_point(self, source: Source) -> tuple[DeliverPolicy, ConsumerConfig | None]:
        if source.kind is ChannelKind.STATE:
            return DeliverPolicy.LAST_PER_SUBJECT, None
        after = self._cursors.get(source.subject, self._since)
        if after is None:
            return (DeliverPolicy.ALL if self.channel.spec.from_start else DeliverPolicy.NEW), None
        js = self._bus.js
        info = await js.stream_info(await js.find_stream_name_by_subject(source.subject))
        first, last = info.state.first_seq, info.state.last_seq
        if after + 1 < first or after > last:  # aged out, or the stream began again
            reset = Reset(channel=self.channel.key, since=after, first_cursor=first)
            self._metrics.resets += 1
            self._tell(reset.model_dump_json())
            after = first - 1
        return DeliverPolicy.BY_START_SEQUENCE, ConsumerConfig(opt_start_seq=after + 1)

    async def stop(self) -> None:
        pulling, self._pulling = self._pulling, []
        for task in pulling:
            await stop_task(task)
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(nats.errors.Error):  # gone with the old connection
                await subscription.unsubscribe()

    def attach(self, outbox: Outbox, options: Options = NO_OPTIONS) -> None:
        """From now on `outbox` gets the feed: the newest state at once, then what comes
        (state at most once per `options.interval_s`; as deltas if `options.delta`)."""
        for frame in self._pending:
            outbox.put_control(frame)
        self._pending.clear()
        interval_s = options.interval_s
        subscriber: Outbox | Throttle = outbox
        if interval_s:  # paced from the snapshot it gets now, or from its first value
            subscriber = Throttle(outbox, interval_s, paced_now=bool(self._latest))
        if options.delta and self._versions is not None:
            for slot in self._latest:
                outbox.put_state(slot, self._versions.snapshot(slot))
            self._delta_subscribers[outbox] = subscriber
        else:
            for slot, frames in self._latest.items():
                outbox.put_state(slot, frames)
            self._subscribers[outbox] = subscriber
        self._attached.set()

    async def _room(self) -> None:
        """Until the socket a private feed serves has taken what it was given."""
        await self._attached.wait()
        for outbox in list(self._subscribers):
            await outbox.drained()

    def _tell(self, frame: str) -> None:
        """A control frame for every client of the feed (or the first one to come)."""
        if self.idle:
            self._pending.append(frame)
        for outbox in [*self._subscribers, *self._delta_subscribers]:
            outbox.put_control(frame)

    def detach(self, outbox: Outbox) -> None:
        subscriber = self._subscribers.pop(outbox, None) or self._delta_subscribers.pop(
            outbox, None
        )
        if isinstance(subscriber, Throttle):
            subscriber.stop()

    async def _deliver(self, source: Source, msg: Msg) -> None:
        try:
            message = source.message.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("dropped a malformed message on %s: %s", msg.subject, exc)
            return
        key = self.channel.key
        metadata = msg.metadata
        produced_at = metadata.timestamp.timestamp() if metadata.timestamp else None
        at_once = 0  # sockets that take the frames this loop turn
        if source.kind is ChannelKind.STATE:
            slot = (key, msg.subject)
            frames = self._frames(Delivery(msg.subject, message, cursor=None))
            self._latest[slot] = frames
            for subscriber in self._subscribers.values():
                at_once += subscriber.put_state(slot, frames, produced_at)
            if self._versions is not None:
                self._versions.record(slot, *frames)
                if self._delta_subscribers:
                    self._deliver_delta(slot, produced_at)
        else:
            cursor = metadata.sequence.stream
            self._cursors[source.subject] = cursor
            frames = self._frames(Delivery(msg.subject, message, cursor))
            if not frames:  # a filtered log batch with no line left
                return
            if source.kind is ChannelKind.JOURNAL:
                for outbox in self._subscribers:
                    at_once += outbox.put_journal(key, frames, produced_at)
            else:
                for outbox in self._subscribers:
                    at_once += outbox.put_stream(key, frames, produced_at)
        self._flusher.fanned_out(source.kind, frames, produced_at, at_once)

    def _deliver_delta(self, slot: Slot, produced_at: float | None) -> None:
        assert self._versions is not None
        delta, snapshot = self._versions.delta(slot), self._versions.snapshot(slot)
        at_once = 0
        for subscriber in self._delta_subscribers.values():
            at_once += subscriber.put_state(slot, delta, produced_at, snapshot)
        self._flusher.fanned_out(ChannelKind.STATE, delta, produced_at, at_once)

    def _frames(self, delivery: Delivery) -> tuple[Frame, ...]:
        texts = self._render(self.channel, delivery)
        return tuple(Frame(text, delivery.cursor) for text in texts)


class ChannelFeed(Protocol):
    """What the hub needs of a feed: `Feed`, or another kind a channel asks for
    (`make`), such as a merged view of selected containers."""

    channel: ChannelRef

    @property
    def idle(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def attach(self, outbox: Outbox, options: Options = NO_OPTIONS) -> None: ...

    def detach(self, outbox: Outbox) -> None: ...


FeedMaker = Callable[[ChannelRef, int | None], ChannelFeed]  # channel, resume after


class FeedWatcher(Protocol):
    """Told about the feeds of one channel (e.g. to hold a log lease while they live)."""

    async def admit(self, channel: ChannelRef) -> ChannelRef:
        """The channel to join for what the client asked, or raise `ChannelRefused`."""
        ...

    def started(self, channel: ChannelRef) -> None: ...

    def stopped(self, channel: ChannelRef) -> None: ...

    def polled(self, channel: ChannelRef) -> None:
        """The channel was polled (HTTP, no feed): demand for a while."""
        ...


class Hub:
    def __init__(self, bus: Bus, metrics: GatewayMetrics, flusher: Flusher) -> None:
        self._bus = bus
        self._metrics = metrics
        self._flusher = flusher
        self._feeds: dict[str, ChannelFeed] = {}  # shared, by channel key
        self._private: dict[tuple[str, int], ChannelFeed] = {}  # resuming: (key, id(outbox))
        self._makers: dict[str, FeedMaker] = {}  # by channel name, where not a `Feed`
        self._lock = asyncio.Lock()
        self._watchers: dict[str, FeedWatcher] = {}  # by channel name
        self._refusal = ""  # why the last feed could not start

    def watch(self, channel_name: str, watcher: FeedWatcher) -> None:
        self._watchers[channel_name] = watcher

    def make(self, channel_name: str, maker: FeedMaker) -> None:
        """The channel's feeds are made by `maker`, not as a `Feed` of fixed sources."""
        self._makers[channel_name] = maker

    def demand(self, channel: ChannelRef, on: bool) -> None:
        """Someone other than a feed wants the channel's source (a merged view wants
        a container's logs): its watcher holds (or gives up) what it needs."""
        self._tell_watcher(channel, started=on)

    async def admit(self, channel: ChannelRef) -> ChannelRef:
        """What a client asked for, made into what to join by the channel's watcher
        (raises `ChannelRefused`, also for a log filter that cannot be used)."""
        try:
            LineFilter.of(dict(channel.params))
        except InvalidFilter as exc:
            raise ChannelRefused(ErrorCode.INVALID_MESSAGE, str(exc)) from None
        watcher = self._watchers.get(channel.spec.name)
        return channel if watcher is None else await watcher.admit(channel)

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
        announce: str | None = None,
    ) -> None:
        """Attach `outbox` to the channel's feed, starting it if it is the first; with
        `options.since`, to a feed of its own that resumes after that cursor.

        `announce` (the `subscribed` frame) is queued once the feed is live and before
        any of its data, so a client that hears it misses nothing published after.
        While NATS is away the feed waits, registered, and starts on reconnect.
        """
        since = options.since
        async with self._lock:
            private = since is not None or channel.spec.from_start  # from its own point
            private = private and channel.spec.kind is not ChannelKind.STATE
            new = private or channel.key not in self._feeds
            feed: ChannelFeed
            if private:
                self._metrics.resumes += since is not None
                feed = self._private[(channel.key, id(outbox))] = self._feed(channel, since)
            elif channel.key in self._feeds:
                feed = self._feeds[channel.key]
            else:
                feed = self._feeds[channel.key] = self._feed(channel, None)
            if self._bus.is_connected and not await self._start(feed) and new:
                # NATS answers but refused (e.g. 10026, the stream's consumer limit):
                # say so, rather than announce a feed that will never flow
                if private:
                    del self._private[(channel.key, id(outbox))]
                else:
                    del self._feeds[channel.key]
                raise ChannelRefused(ErrorCode.UNAVAILABLE, f"{channel.key}: {self._refusal}")
            if new:  # after its consumer exists, so it sees what the watcher causes
                self._tell_watcher(channel, started=True)
            if announce is not None:
                outbox.put_control(announce)
            feed.attach(outbox, options)

    async def rejoin(
        self, channel: ChannelRef, outbox: Outbox, options: Options, *, announce: str | None
    ) -> None:
        """A state channel's subscriber again, with new `options`: from a fresh snapshot
        of the feed it is on."""
        async with self._lock:
            feed = self._feeds[channel.key]
            feed.detach(outbox)
            if announce is not None:
                outbox.put_control(announce)
            feed.attach(outbox, options)

    async def leave(self, channel: ChannelRef, outbox: Outbox) -> None:
        async with self._lock:
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

    async def restart(self) -> None:
        """Start every feed again on the current connection (after a reconnect)."""
        async with self._lock:
            for feed in self._all():
                await feed.stop()
                await self._start(feed)

    async def close(self) -> None:
        async with self._lock:
            for feed in self._all():
                await feed.stop()
                self._tell_watcher(feed.channel, started=False)
            self._feeds.clear()
            self._private.clear()

    def _feed(self, channel: ChannelRef, since: int | None) -> ChannelFeed:
        maker = self._makers.get(channel.spec.name)
        if maker is not None:
            return maker(channel, since)
        private = since is not None or channel.spec.from_start
        return Feed(channel, self._bus, self._metrics, self._flusher, since=since, private=private)

    def _all(self) -> list[ChannelFeed]:
        return [*self._feeds.values(), *self._private.values()]

    async def _start(self, feed: ChannelFeed) -> bool:
        try:
            await feed.start()
        except (nats.errors.Error, TimeoutError) as exc:  # retried on the next reconnect
            log.warning("could not start the feed of %s: %s", feed.channel.key, exc)
            self._refusal = f"could not start its feed, try again later ({exc})"
            return False
        return True
