"""How a socket reads a stream's history: a short-lived consumer of its own, paced by
the socket, until the channel's shared live feed can take it over.

A client that resumes (or subscribes to a journal that replays from its start) may
have thousands of messages to catch up on. Pushed as fast as JetStream sends them they
would overrun its outbox, and a journal client would be closed with 4008 again and
again. So the history is pulled: a batch goes to the socket, and the next is fetched
only once the socket has taken it (nothing in its backlog, and the kernel takes bytes).

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
"""

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from vigil_gateway.metrics import GatewayMetrics

BATCH = 64  # messages per pull: all are written in one loop turn, so any size is safe
WAIT_S = 5.0  # how long one pull waits for messages known to be there
HOLD_S = 2.0  # a socket slower than this to drain gives its consumer back meanwhile
IDLE_CONSUMER_S = 30.0  # the server drops a consumer its gateway forgot (killed mid-read)
RETRY_S = 0.5  # between attempts to make a consumer NATS refused or lost

log = logging.getLogger(__name__)

Deliver = Callable[[Msg], None]
Lost = Callable[[int, int], None]  # the last sequence delivered, the oldest one kept
Delayed = Callable[[str], None]  # why no consumer reads for the socket now
HandOver = Callable[[int], bool]  # the last sequence delivered: True once the shared feed took it


class _Outcome(enum.Enum):
    HANDED_OVER = enum.auto()
    SLOW = enum.auto()  # the socket is slow to drain: wait for it without a consumer
    FAILED = enum.auto()  # NATS refused or lost the consumer: make another soon


async def catch_up(
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
            stream = await js.find_stream_name_by_subject(self._subject)
            first = (await js.stream_info(stream)).state.first_seq
            if self.after + 1 < first:  # aged out or purged since the last consumer
                self._lost(self.after, first)
                self.after = max(first, 1) - 1
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
