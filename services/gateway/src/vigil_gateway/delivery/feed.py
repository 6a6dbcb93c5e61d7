"""A channel's JetStream feed, shared by every client of it on this gateway replica.

An ordered consumer per source, from the newest value of every subject (state) or from
the stream's last sequence, read as it starts (stream, journal). Each message is
rendered once, into frames built once, and offered to every subscribed connection's
outbox; the feed keeps the newest frames of each state subject, so a later subscriber
gets them at once. Stream sources go on from the sequence they had reached when the
feed starts again (after a NATS reconnect), so an outage loses nothing that is kept.

A state channel numbers each subject's values for subscribers that asked for deltas
(`deltas`): they get a snapshot, then what changed, computed once per value. Its
sampled sources are watched for age (`staleness`): a state whose source stopped is
marked `stale` to its subscribers (a later one: right after the snapshot), and
`fresh` ahead of its next value.

A subscriber catching up on its own (`catchup`) is held back from the stream and
journal messages until the feed takes it over at the sequence it reached.

A stream message that concerns a Kubernetes cluster (an alert of a pod) reaches only
the subscribers whose grant covers that cluster, asked at each send (`permissions`):
the alerts of every cluster share one feed.
"""

import asyncio
import contextlib
import functools
import logging
import time

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelKind, ChannelRef, Source
from vigil_gateway.access.permissions import SeesCluster, cluster_of
from vigil_gateway.delivery.deltas import StateVersions
from vigil_gateway.delivery.options import Options
from vigil_gateway.delivery.resume import reset_of, resume, window_of
from vigil_gateway.delivery.source_status import source_status_of
from vigil_gateway.delivery.staleness import StaleAfter, Staleness
from vigil_gateway.delivery.throttle import Throttle
from vigil_gateway.delivery.views import Delivery, renderer_for
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.transport.backlog import Slot
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.outbox import Outbox
from vigil_gateway.transport.wire import Frame, Frames

log = logging.getLogger(__name__)


class Feed:
    def __init__(
        self,
        channel: ChannelRef,
        bus: Bus,
        metrics: GatewayMetrics,
        flusher: Flusher,
        *,
        stale_after: StaleAfter | None = None,
    ) -> None:
        self.channel = channel
        self._bus = bus
        self._metrics = metrics
        self._flusher = flusher
        self._render = renderer_for(channel)
        self._sources = channel.sources(bus.subjects)
        self._subscribers: dict[Outbox, Outbox | Throttle] = {}
        self._delta_subscribers: dict[Outbox, Outbox | Throttle] = {}
        self._sees: dict[Outbox, SeesCluster] = {}  # each subscriber's cluster grant
        self._latest: dict[Slot, Frames] = {}
        self._versions: StateVersions | None = None  # numbered values, for deltas
        if channel.spec.kind is ChannelKind.STATE:
            self._versions = StateVersions(channel, bus.subjects)
        self._staleness: Staleness | None = None  # sampled state sources: marked stale
        if stale_after is not None and any(s.kind is ChannelKind.STATE for s in self._sources):
            self._staleness = Staleness(channel.key, bus.subjects.prefix, stale_after, self._tell)
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        self._starting = asyncio.Lock()  # the hub and a catching-up socket may both start it
        self.started = False
        self._cursors: dict[str, int] = {}  # stream source -> where it goes on after
        self._delivered: dict[str, int] = {}  # stream source -> last sequence sent
        # Sockets catching up on their own, by stream source: skip all (None), or the
        # messages up to the sequence they were handed over at.
        self._holds: dict[Outbox, dict[str, int | None]] = {}

    @property
    def idle(self) -> bool:
        return not self._subscribers and not self._delta_subscribers

    @property
    def paced_sources(self) -> list[Source]:
        """The sources a socket that resumes (or replays from the start) catches up on."""
        return [source for source in self._sources if source.kind is not ChannelKind.STATE]

    async def start(self) -> None:
        async with self._starting:
            if self.started:
                return
            try:
                for source in self._sources:
                    policy, config = await self._start_point(source)
                    pushed = await self._bus.js.subscribe(
                        source.subject,
                        ordered_consumer=True,
                        deliver_policy=policy,
                        config=config,
                        cb=functools.partial(self._deliver, source),
                    )
                    self._subscriptions.append(pushed)
                if self._staleness is not None:
                    await self._follow_source_status()
                    self._staleness.resume()
            except BaseException:
                await self._unsubscribe()
                raise
            self.started = True

    async def _follow_source_status(self) -> None:
        """Where the collector says its source is down (a Docker engine), follow that
        too: its values are marked stale at once."""
        status = source_status_of(self.channel)
        if status is None:
            return
        subjects = self._bus.subjects
        source = status.source(subjects, dict(self.channel.params))

        async def said(msg: Msg) -> None:
            try:
                message = source.message.model_validate_json(msg.data)
            except ValidationError:
                return
            assert self._staleness is not None
            stamp = msg.metadata.timestamp
            said_at = stamp.timestamp() if stamp else time.time()
            slot = (self.channel.key, status.values_subject(subjects, message))
            self._staleness.source_said(slot, said_at, status.down(message))

        pushed = await self._bus.js.subscribe(
            source.subject,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            cb=said,
        )
        self._subscriptions.append(pushed)

    async def _start_point(self, source: Source) -> tuple[DeliverPolicy, ConsumerConfig | None]:
        if source.kind is ChannelKind.STATE:
            return DeliverPolicy.LAST_PER_SUBJECT, None
        window = await window_of(self._bus.js, source.subject)
        after = self._cursors.get(source.subject)
        if after is None:  # from now, at a known sequence: where catching up hands over
            after = window.last
        else:  # where it had reached, unless that aged out or the stream began again
            resumed = resume(after, window)
            if resumed.reset:
                self._metrics.resets += 1
                self._tell(reset_of(self.channel.key, after, window).model_dump_json())
            after = resumed.after
        self._cursors[source.subject] = after
        return DeliverPolicy.BY_START_SEQUENCE, ConsumerConfig(opt_start_seq=after + 1)

    async def stop(self) -> None:
        async with self._starting:
            await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        self.started = False
        if self._staleness is not None:
            self._staleness.pause()
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(nats.errors.Error):  # gone with the old connection
                await subscription.unsubscribe()

    def attach(
        self,
        outbox: Outbox,
        options: Options,
        sees_cluster: SeesCluster,
        *,
        held: bool = False,
    ) -> None:
        """From now on `outbox` gets the feed: the newest state at once, then what comes
        (state at most once per `options.interval_s`; as deltas if `options.delta`);
        `held`: no stream or journal message until it is handed over (`hand_over`).
        State sources read one cluster at most, whose grant was checked on subscribing;
        stream messages of a cluster go only where `sees_cluster` says yes."""
        self._sees[outbox] = sees_cluster
        if held:
            self._holds[outbox] = dict.fromkeys((s.subject for s in self.paced_sources), None)
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
        if self._staleness is not None:  # what of the snapshot is stale, right after it
            for frame in self._staleness.marks():
                outbox.put_control(frame)

    def bus_lost(self, reason: str) -> None:
        """The gateway lost the bus: its sampled states are stale to every subscriber
        now (and `fresh` again with their next value after the reconnect)."""
        if self._staleness is not None:
            self._staleness.bus_lost(reason)

    def hand_over(self, outbox: Outbox, source: Source, after: int) -> bool:
        """`outbox` has caught up on `source` on its own, up to sequence `after`, and
        nothing more was pending: it gets the feed's messages after `after` from now on.
        False while the feed has already sent past it (catch up further first)."""
        if self._delivered.get(source.subject, 0) > after:
            return False
        hold = self._holds.get(outbox)
        if hold is not None:
            hold[source.subject] = after
        return True

    def replay_to(self, outbox: Outbox, source: Source, msg: Msg) -> None:
        """A message of `source` read again for `outbox` alone, while it catches up."""
        rendered = self._stream_frames(source, msg)
        if rendered is None:
            return
        frames, produced_at, cluster = rendered
        if cluster is not None and not self._sees_cluster(outbox, cluster):
            return
        if source.kind is ChannelKind.JOURNAL:
            at_once = outbox.put_journal(self.channel.key, frames, produced_at)
        else:
            at_once = outbox.put_stream(self.channel.key, frames, produced_at)
        self._flusher.fanned_out(source.kind, frames, produced_at, int(at_once))

    def _tell(self, text: str) -> None:
        """A control frame for every client of the feed (built once for all); a
        `stale` or `fresh` mark among them (a later subscriber gets the marks when it
        attaches)."""
        frame = Frame(text)
        for outbox in [*self._subscribers, *self._delta_subscribers]:
            outbox.put_control(frame)

    def detach(self, outbox: Outbox) -> None:
        self._holds.pop(outbox, None)
        self._sees.pop(outbox, None)
        subscriber = self._subscribers.pop(outbox, None) or self._delta_subscribers.pop(
            outbox, None
        )
        if isinstance(subscriber, Throttle):
            subscriber.stop()

    async def _deliver(self, source: Source, msg: Msg) -> None:
        if source.kind is not ChannelKind.STATE:
            self._deliver_stream(source, msg)
            return
        try:
            message = source.message.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("dropped a malformed message on %s: %s", msg.subject, exc)
            return
        metadata = msg.metadata
        produced_at = metadata.timestamp.timestamp() if metadata.timestamp else None
        at_once = 0  # sockets that take the frames this loop turn
        slot = (self.channel.key, msg.subject)
        if self._staleness is not None:  # `fresh` goes ahead of the value
            self._staleness.seen(slot, message, produced_at)
        frames = self._frames(Delivery(msg.subject, message, cursor=None))
        self._latest[slot] = frames
        for subscriber in self._subscribers.values():
            at_once += subscriber.put_state(slot, frames, produced_at)
        if self._versions is not None:
            self._versions.record(slot, *frames)
            if self._delta_subscribers:
                self._deliver_delta(slot, produced_at)
        self._flusher.fanned_out(source.kind, frames, produced_at, at_once)

    def _deliver_stream(self, source: Source, msg: Msg) -> None:
        cursor = msg.metadata.sequence.stream
        self._cursors[source.subject] = self._delivered[source.subject] = cursor
        rendered = self._stream_frames(source, msg)
        if rendered is None:
            return
        frames, produced_at, cluster = rendered
        key = self.channel.key
        put = Outbox.put_journal if source.kind is ChannelKind.JOURNAL else Outbox.put_stream
        at_once = 0
        takers = self._subscribers if not self._holds else self._takers(source, cursor)
        if cluster is not None:
            takers = [outbox for outbox in takers if self._sees_cluster(outbox, cluster)]
        for outbox in takers:
            at_once += put(outbox, key, frames, produced_at)
        self._flusher.fanned_out(source.kind, frames, produced_at, at_once)

    def _takers(self, source: Source, cursor: int) -> list[Outbox]:
        """The subscribers of a stream message: not those catching up to it on their own."""
        takers = []
        for outbox in self._subscribers:
            hold = self._holds.get(outbox)
            if hold is not None and source.subject in hold:
                after = hold[source.subject]
                if after is None or cursor <= after:
                    continue
                del hold[source.subject]  # past its hand-over: an ordinary subscriber now
                if not hold:
                    del self._holds[outbox]
            takers.append(outbox)
        return takers

    def _sees_cluster(self, outbox: Outbox, cluster: str) -> bool:
        sees = self._sees.get(outbox)
        return sees is not None and sees(cluster)

    def _stream_frames(
        self, source: Source, msg: Msg
    ) -> tuple[Frames, float | None, str | None] | None:
        """A stream or journal message's frames, when it entered JetStream and the
        cluster it concerns; None for one with nothing to send (malformed, or a log
        batch filtered to no line)."""
        try:
            message = source.message.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("dropped a malformed message on %s: %s", msg.subject, exc)
            return None
        metadata = msg.metadata
        produced_at = metadata.timestamp.timestamp() if metadata.timestamp else None
        frames = self._frames(Delivery(msg.subject, message, metadata.sequence.stream))
        return (frames, produced_at, cluster_of(message)) if frames else None

    def _deliver_delta(self, slot: Slot, produced_at: float | None) -> None:
        assert self._versions is not None
        delta, snapshot = self._versions.delta(slot), self._versions.snapshot(slot)
        at_once = 0
        for subscriber in self._delta_subscribers.values():
            at_once += subscriber.put_state(slot, delta, produced_at, snapshot)
        self._flusher.fanned_out(ChannelKind.STATE, delta, produced_at, at_once)

    def _frames(self, delivery: Delivery) -> Frames:
        texts = self._render(self.channel, delivery)
        return tuple(Frame(text, delivery.cursor) for text in texts)
