"""One JetStream feed per channel, shared by every client of this gateway replica.

The first client of a channel starts its feed: an ordered consumer per source, from
the newest value of every subject (state) or from now (stream). Each message is
rendered once and offered to every subscribed connection's outbox; the feed keeps the
newest frames of each state subject, so a later subscriber gets them at once. The
last client to leave stops it. After a NATS reconnect every feed starts again.
"""

import asyncio
import contextlib
import functools
import logging

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelKind, ChannelRef, Source
from vigil_gateway.outbox import Outbox, Slot
from vigil_gateway.views import Delivery, renderer_for

log = logging.getLogger(__name__)


class Feed:
    def __init__(self, channel: ChannelRef, bus: Bus) -> None:
        self.channel = channel
        self._bus = bus
        self._render = renderer_for(channel)
        self._sources = channel.sources(bus.subjects)
        self._outboxes: set[Outbox] = set()
        self._latest: dict[Slot, tuple[str, ...]] = {}
        self._subscriptions: list[JetStreamContext.PushSubscription] = []

    @property
    def idle(self) -> bool:
        return not self._outboxes

    async def start(self) -> None:
        if self._subscriptions:
            return
        try:
            for source in self._sources:
                state = source.kind is ChannelKind.STATE
                subscription = await self._bus.js.subscribe(
                    source.subject,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.LAST_PER_SUBJECT if state else DeliverPolicy.NEW,
                    cb=functools.partial(self._deliver, source),
                )
                self._subscriptions.append(subscription)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(nats.errors.Error):  # gone with the old connection
                await subscription.unsubscribe()

    def attach(self, outbox: Outbox) -> None:
        self._outboxes.add(outbox)
        for slot, frames in self._latest.items():
            outbox.put_state(slot, frames)

    def detach(self, outbox: Outbox) -> None:
        self._outboxes.discard(outbox)

    async def _deliver(self, source: Source, msg: Msg) -> None:
        try:
            message = source.message.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("dropped a malformed message on %s: %s", msg.subject, exc)
            return
        key = self.channel.key
        if source.kind is ChannelKind.STATE:
            slot = (key, msg.subject)
            frames = self._render(self.channel, Delivery(msg.subject, message, cursor=None))
            self._latest[slot] = frames
            for outbox in self._outboxes:
                outbox.put_state(slot, frames)
        else:
            cursor = msg.metadata.sequence.stream
            frames = self._render(self.channel, Delivery(msg.subject, message, cursor))
            for outbox in self._outboxes:
                outbox.put_stream(key, frames)


class Hub:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._feeds: dict[str, Feed] = {}
        self._lock = asyncio.Lock()

    async def join(self, channel: ChannelRef, outbox: Outbox) -> None:
        """Attach `outbox` to the channel's feed, starting it if it is the first.

        While NATS is away the feed waits, registered, and starts on reconnect.
        """
        async with self._lock:
            feed = self._feeds.get(channel.key)
            if feed is None:
                feed = self._feeds[channel.key] = Feed(channel, self._bus)
            if self._bus.is_connected:
                await self._start(feed)
            feed.attach(outbox)

    async def leave(self, channel: ChannelRef, outbox: Outbox) -> None:
        async with self._lock:
            feed = self._feeds.get(channel.key)
            if feed is None:
                return
            feed.detach(outbox)
            if feed.idle:
                del self._feeds[channel.key]
                await feed.stop()

    async def restart(self) -> None:
        """Start every feed again on the current connection (after a reconnect)."""
        async with self._lock:
            for feed in self._feeds.values():
                await feed.stop()
                await self._start(feed)

    async def close(self) -> None:
        async with self._lock:
            for feed in self._feeds.values():
                await feed.stop()
            self._feeds.clear()

    @staticmethod
    async def _start(feed: Feed) -> None:
        try:
            await feed.start()
        except (nats.errors.Error, TimeoutError) as exc:  # retried on the next reconnect
            log.warning("could not start the feed of %s: %s", feed.channel.key, exc)
