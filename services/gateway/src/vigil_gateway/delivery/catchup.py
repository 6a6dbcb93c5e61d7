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
"""

import asyncio
import functools
import logging

import nats.errors

from vigil.bus import Bus
from vigil.channels import Source
from vigil.lifecycle import stop_task
from vigil.messages import Error, ErrorCode, Reset
from vigil_gateway.delivery import replay
from vigil_gateway.delivery.feed import Feed
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.transport.outbox import Outbox

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
                await replay.catch_up(
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
            await asyncio.sleep(replay.RETRY_S)

    async def _start_point(self, source: Source) -> int:
        """The sequence to replay after: `since`, or where the stream's window begins
        now if it no longer holds what follows `since` (the client gets a `reset`)."""
        if self._since is None:
            return 0
        while True:
            try:
                js = self._bus.js
                info = await js.stream_info(await js.find_stream_name_by_subject(source.subject))
                break
            except (nats.errors.Error, TimeoutError) as exc:
                log.info("could not read the window of %s: %s", source.subject, exc)
                await asyncio.sleep(replay.RETRY_S)
        first, last = info.state.first_seq, info.state.last_seq
        after = self._since
        if after + 1 < first or after > last:  # aged out, or the stream began again
            self._reset(after, first)
            after = max(first, 1) - 1  # an empty stream's first is 0
        return after

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

    def _reset(self, after: int, first: int) -> None:
        """The stream no longer holds what follows `after`: the client is told that
        delivery goes on from `first`."""
        reset = Reset(channel=self._feed.channel.key, since=after, first_cursor=first)
        self._metrics.resets += 1
        self._outbox.put_control(reset.model_dump_json())
