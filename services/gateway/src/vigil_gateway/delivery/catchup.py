"""A socket's own way to the live end of a channel, and then onto its shared feed.

A client that resumes a stream or journal channel (`since`), or subscribes to one that
replays its whole history (a deploy's journal), joins the channel's shared feed at once,
like any subscriber (state sources reach it from there), but the feed holds its stream
and journal messages back from it. Meanwhile the socket catches up on its own
(`replay`): from its cursor, or from the start, a batch at a time at its own pace,
through a consumer that lives only while it reads. When that read has nothing pending,
the feed takes the socket over at the JetStream sequence delivered last: from then on
it sends the socket every message after that sequence and skips those at or before it.

The hand-over loses nothing and repeats nothing because the shared feed starts at a
known sequence (the stream's last, read before its consumer is made: `Feed.start`) and
the replay's consumer is made after that: the replay has delivered everything up to at
least the feed's start; what the feed delivered since is at or before the hand-over
point, or the hand-over waits while the replay reads on to it; and what the feed has
not delivered yet it sends, past the point. A socket that later falls behind the
shared feed on a journal is closed with 4008 as any other, and resumes this way.

So a gateway holds one consumer per channel followed (its shared feed), plus one per
socket still reading history, at most `max_replays` at once; more sockets replaying at
once queue for a slot. Journal watchers are no longer bounded by the server's consumer
limit. Not chosen: a direct get per message (no consumer, but a request per message);
an ordered push consumer per replay (not paced by the socket: a long journal would
overrun a slow client's outbox).

Reading the history (`replay`): a short-lived consumer of the socket's own, paced by the
socket, until the channel's shared live feed can take it over. A client that resumes (or
subscribes to a journal that replays from its start) may have thousands of messages to
catch up on. Pushed as fast as JetStream sends them they would overrun its outbox, and a
journal client would be closed with 4008 again and again. So the history is pulled: a
batch goes to the socket, and the next is fetched only once the socket has taken it
(nothing in its backlog, and the kernel takes bytes).

The consumer exists only while there is history to read. It starts after the last
message delivered; when it reports nothing pending, `hand_over` is asked to move the
socket to the shared feed from that message on, and the consumer is deleted. A socket
that takes longer than `HOLD_S` to drain gives its consumer back meanwhile and gets a
new one when it has drained, so stuck clients hold none. At most `slots` consumers are
held at once per gateway: many clients replaying at once queue for a slot rather than
pass the server's consumer limit; one NATS refuses anyway (10026, other gateways' share
of the limit) is made again after `RETRY_S`, as is one lost with its server, and
`delayed` is told why.

Each consumer starts where the last one stopped, unless the stream no longer holds
that (its window moved on while the socket was slow to drain, or it was purged): then
`lost` is told, and reading goes on from the oldest message kept. Without that a purge
of what the shared feed had already sent would leave the replay waiting for it forever.
Where a cursor goes on, and when it is past the window, is `resume`'s answer.
"""

import asyncio
import contextlib
import enum
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from vigil.bus import Bus
from vigil.channels import Source
from vigil.lifecycle import stop_task
from vigil.messages import Error, ErrorCode
from vigil_gateway.delivery.feed import Feed
from vigil_gateway.delivery.resume import Window, reset_of, resume, window_of
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.transport.outbox import Outbox

BATCH = 64  # messages per pull: all are written in one loop turn, so any size is safe
WAIT_S = 5.0  # how long one pull waits for messages known to be there
HOLD_S = 2.0  # a socket slower than this to drain gives its consumer back meanwhile
IDLE_CONSUMER_S = 30.0  # the server drops a consumer its gateway forgot (killed mid-read)
RETRY_S = 0.5  # between attempts to make a consumer NATS refused or lost

Deliver = Callable[[Msg], None]
Lost = Callable[[int, Window], None]  # the last sequence delivered, the window now
Delayed = Callable[[str], None]  # why no consumer reads for the socket now
HandOver = Callable[[int], bool]  # the last sequence delivered: True once the shared feed took it


log = logging.getLogger(__name__)


class CatchUp:
    """One socket's replay of a channel's stream and journal sources, from `since` (or
    the start), until `feed` takes it over."""

    def __init__(
        self,
        feed: Feed,
        outbox: Outbox,
        since: int | None,
        *,
        bus: Bus,
        slots: asyncio.Semaphore,
        metrics: GatewayMetrics,
    ) -> None:
        self._feed = feed
        self._outbox = outbox
        self._since = since
        self._bus = bus
        self._slots = slots
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._told_delayed = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        self._metrics.catching_up += 1
        try:
            await self._feed_started()
            for source in self._feed.paced_sources:
                await replay(
                    self._bus.js,
                    source.subject,
                    await self._start_point(source),
                    deliver=functools.partial(self._feed.replay_to, self._outbox, source),
                    room=self._outbox.drained,
                    hand_over=functools.partial(self._feed.hand_over, self._outbox, source),
                    lost=self._reset,
                    delayed=self._delayed,
                    slots=self._slots,
                    metrics=self._metrics,
                )
            self._metrics.handovers += 1
        finally:
            self._metrics.catching_up -= 1

    async def _feed_started(self) -> None:
        """The hand-over needs the feed's start point; a feed NATS refused at the join
        (no stream yet, too many consumers) is tried again meanwhile."""
        while not self._feed.started:
            if self._bus.is_connected:
                try:
                    await self._feed.start()
                    continue
                except (nats.errors.Error, TimeoutError) as exc:
                    log.info("the feed of %s could not start yet: %s", self._feed.channel.key, exc)
            await asyncio.sleep(RETRY_S)

    async def _start_point(self, source: Source) -> int:
        """The sequence to replay after: `since`, or where the stream's window begins
        now if it no longer holds what follows `since` (the client gets a `reset`)."""
        if self._since is None:
            return 0
        while True:
            try:
                window = await window_of(self._bus.js, source.subject)
                break
            except (nats.errors.Error, TimeoutError) as exc:
                log.info("could not read the window of %s: %s", source.subject, exc)
                await asyncio.sleep(RETRY_S)
        resumed = resume(self._since, window)
        if resumed.reset:
            self._reset(self._since, window)
        return resumed.after

    def _delayed(self, reason: str) -> None:
        """NATS refused (or lost) the consumer that reads for this socket: the client is
        told once that its history comes late, not why each retry failed."""
        if self._told_delayed:
            return
        self._told_delayed = True
        key = self._feed.channel.key
        message = f"the history of {key} is delayed ({reason}); it follows by itself"
        error = Error(code=ErrorCode.UNAVAILABLE, message=message, channel=key)
        self._outbox.put_control(error.model_dump_json())

    def _reset(self, after: int, window: Window) -> None:
        """The stream no longer holds what follows `after`: the client is told that
        delivery goes on from the oldest message kept."""
        reset = reset_of(self._feed.channel.key, after, window)
        self._metrics.resets += 1
        self._outbox.put_control(reset.model_dump_json())


class _Outcome(enum.Enum):
    HANDED_OVER = enum.auto()
    SLOW = enum.auto()  # the socket is slow to drain: wait for it without a consumer
    FAILED = enum.auto()  # NATS refused or lost the consumer: make another soon


async def replay(
    js: JetStreamContext,
    subject: str,
    after: int,
    *,
    deliver: Deliver,
    room: Callable[[], Awaitable[None]],
    hand_over: HandOver,
    lost: Lost,
    delayed: Delayed,
    slots: asyncio.Semaphore,
    metrics: GatewayMetrics,
) -> None:
    """Deliver every message on `subject` after sequence `after`, in order, a batch
    whenever there is `room`, until `hand_over` takes the socket from the last one;
    `lost` is told when the stream no longer holds what follows the last delivered,
    `delayed` each time NATS refuses or loses the consumer (it is made again)."""
    reader = _Reader(js, subject, after, lost, metrics)
    while True:
        await room()  # no consumer is held while the socket drains
        async with slots:
            outcome = await reader.read(deliver, room, hand_over)
        if outcome is _Outcome.HANDED_OVER:
            return
        if outcome is _Outcome.FAILED:
            delayed(reader.failure)
            await asyncio.sleep(RETRY_S)


class _Reader:
    def __init__(
        self, js: JetStreamContext, subject: str, after: int, lost: Lost, metrics: GatewayMetrics
    ):
        self._js = js
        self._subject = subject
        self.after = after  # the last sequence delivered (or the start point)
        self._lost = lost
        self._metrics = metrics
        self.failure = ""  # why the last read failed

    async def read(
        self, deliver: Deliver, room: Callable[[], Awaitable[None]], hand_over: HandOver
    ) -> _Outcome:
        """With a consumer made for this read and deleted after it."""
        js = self._js
        try:
            window = await window_of(js, self._subject)
            resumed = resume(self.after, window, began_again=False)
            if resumed.reset:  # aged out or purged since the last consumer
                self._lost(self.after, window)
                self.after = resumed.after
            stream = window.stream
            info = await js.add_consumer(stream, self._config())
        except (nats.errors.Error, TimeoutError) as exc:
            log.info("could not start a replay of %s (trying again): %s", self._subject, exc)
            self.failure = _reason(exc)
            return _Outcome.FAILED
        self._metrics.replay_consumers += 1
        subscription: JetStreamContext.PullSubscription | None = None
        try:
            subscription = await js.pull_subscribe_bind(consumer=info.name, stream=stream)
            return await self._fetch(subscription, info.num_pending or 0, deliver, room, hand_over)
        except (nats.errors.Error, TimeoutError) as exc:  # asyncio's too, from nats-py's fetch
            log.info("a replay of %s lost its consumer (starting another): %r", self._subject, exc)
            self.failure = _reason(exc)
            return _Outcome.FAILED
        finally:
            self._metrics.replay_consumers -= 1
            with contextlib.suppress(nats.errors.Error, TimeoutError):  # else it lapses
                if subscription is not None:
                    await subscription.unsubscribe()
                await js.delete_consumer(stream, info.name)

    def _config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=uuid.uuid4().hex,
            filter_subject=self._subject,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.after + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=IDLE_CONSUMER_S,
            mem_storage=True,  # a position kept for seconds: no need to write it to disk
        )

    async def _fetch(
        self,
        subscription: JetStreamContext.PullSubscription,
        pending: int,
        deliver: Deliver,
        room: Callable[[], Awaitable[None]],
        hand_over: HandOver,
    ) -> _Outcome:
        while True:
            # Nothing pending: the shared feed takes over, unless it has already sent
            # past what was delivered here (then that much more is read first).
            if not pending and hand_over(self.after):
                return _Outcome.HANDED_OVER
            # Messages are there (pending, or sent by the feed): if none comes in time,
            # or an error (503: no server holds the consumer), the consumer is lost.
            messages = await subscription.fetch(BATCH, timeout=WAIT_S)
            for msg in messages:
                deliver(msg)
            last = messages[-1].metadata
            self.after, pending = last.sequence.stream, last.num_pending
            if pending:
                await asyncio.sleep(0)  # let the flusher write the batch before the next
                try:
                    await asyncio.wait_for(room(), HOLD_S)
                except TimeoutError:
                    return _Outcome.SLOW


def _reason(exc: Exception) -> str:
    """NATS's own words where it gave some (`maximum consumers limit reached`)."""
    return getattr(exc, "description", None) or str(exc) or type(exc).__name__
