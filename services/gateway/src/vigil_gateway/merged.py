"""A merged log view (`logs.merged`): the lines of every container a selector picks,
in one time order, on one feed shared by the view's clients on this replica.

The feed follows the container directory: a container the selector picks joins (its
log lease is held, as for a watcher of its own logs, and its lines are read from
JetStream) and one that stops or is removed leaves, each with a marker line. The
lines go through a reorder window (`reorder`), then out as `update`s of
`MergedLogBatch` on the channel, as a stream: gaps for slow clients, and a cursor,
the microsecond of the batch's last line, to resume with. Resuming reads every
source again from that time and skips the lines up to it; two lines of different
sources within that very microsecond could be skipped or repeated.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelRef, resolve_channel
from vigil.messages import (
    ErrorCode,
    LogBatch,
    LogLine,
    MergedLogBatch,
    MergedLogLine,
    Update,
)
from vigil_gateway.containers import Container, ContainerDirectory, Selector
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.flusher import Flusher
from vigil_gateway.log_filters import LineFilter
from vigil_gateway.options import NO_OPTIONS, Options
from vigil_gateway.outbox import Outbox
from vigil_gateway.reorder import Released, ReorderWindow
from vigil_gateway.wire import Frame

log = logging.getLogger(__name__)

CHANNEL = "logs.merged"
Demand = Callable[[ChannelRef, bool], None]  # hold (True) or give up a source's lease


def cursor_of(when: datetime) -> int:
    """A line's time as a cursor: microseconds since the epoch."""
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def time_of(cursor: int) -> datetime:
    return datetime.fromtimestamp(cursor // 1_000_000, UTC).replace(microsecond=cursor % 1_000_000)


@dataclass
class _Member:
    container: Container
    channel: ChannelRef  # its docker.logs channel: what its lease is held for
    subscription: JetStreamContext.PushSubscription | None = None
    sequence: int = 0  # the last JetStream sequence read, to go on after a reconnect


class MergedFeed:
    def __init__(
        self,
        channel: ChannelRef,
        bus: Bus,
        directory: ContainerDirectory,
        demand: Demand,
        flusher: Flusher,
        *,
        window_s: float,
        since: int | None = None,
    ) -> None:
        self.channel = channel
        self._bus = bus
        self._directory = directory
        self._demand = demand
        self._flusher = flusher
        params = dict(channel.params)
        self._selector = Selector(params.get("label"), params.get("name"), params.get("host"))
        self._filter = LineFilter.of(params)
        self._since = since
        self._window: ReorderWindow[MergedLogLine] = ReorderWindow(window_s)
        self._members: dict[str, _Member] = {}  # by container id
        self._subscribers: set[Outbox] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._stale = False  # the directory changed while a refresh ran
        self._membership = asyncio.Lock()  # one refresh at a time, each from a fresh look
        self._started = False
        self._cursor = since or 0  # of the newest line sent: never goes back (late lines)

    @property
    def idle(self) -> bool:
        return not self._subscribers

    # -- life -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._directory.listen(self._changed)
        for member in self._members.values():  # after a reconnect: where each was
            await self._subscribe(member)
            self._demand(member.channel, True)
        await self._refresh(markers=False)

    async def stop(self) -> None:
        self._started = False
        self._directory.unlisten(self._changed)
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for member in self._members.values():  # kept, to go on from after a reconnect
            await self._unsubscribe(member)
            self._demand(member.channel, False)

    def attach(self, outbox: Outbox, options: Options = NO_OPTIONS) -> None:
        self._subscribers.add(outbox)

    def detach(self, outbox: Outbox) -> None:
        self._subscribers.discard(outbox)

    # -- membership -------------------------------------------------------------------

    def _changed(self) -> None:
        if self._refreshing is not None:
            self._stale = True
            return
        self._refreshing = asyncio.create_task(self._refresh_again())

    async def _refresh_again(self) -> None:
        try:
            await self._refresh(markers=True)
            while self._stale:
                self._stale = False
                await self._refresh(markers=True)
        finally:
            self._refreshing = None

    async def _refresh(self, *, markers: bool) -> None:
        async with self._membership:
            await self._update(markers=markers)

    async def _update(self, *, markers: bool) -> None:
        picked = {c.id: c for c in await self._directory.select(self._selector)}
        for container_id in [c for c in self._members if c not in picked]:
            member = self._members.pop(container_id)
            await self._unsubscribe(member)
            self._demand(member.channel, False)
            self._window.remove_source(container_id)
            self._mark(member.container, "left")
        for container in picked.values():
            if container.id in self._members:
                continue
            channel = resolve_channel(
                "docker.logs", {"container": container.id, "host": container.host}
            )
            member = self._members[container.id] = _Member(container, channel)
            self._window.add_source(container.id)
            await self._subscribe(member)
            self._demand(channel, True)
            if markers:
                self._mark(container, "joined")
        self._flush()

    def _mark(self, container: Container, marker: Literal["joined", "left"]) -> None:
        now = datetime.now(UTC)
        line = _merged(container, LogLine(time=now, stream="stdout", text=f"— {marker}"), marker)
        self._window.put(container.id, now, line, asyncio.get_running_loop().time())

    # -- reading ----------------------------------------------------------------------

    async def _subscribe(self, member: _Member) -> None:
        subject = self._bus.subjects.docker_logs(member.container.host, member.container.id)
        if member.sequence:
            policy, config = (
                DeliverPolicy.BY_START_SEQUENCE,
                ConsumerConfig(opt_start_seq=member.sequence + 1),
            )
        elif self._since is not None:
            start = time_of(self._since)
            policy, config = DeliverPolicy.BY_START_TIME, ConsumerConfig(opt_start_time=start)
        else:
            policy, config = DeliverPolicy.NEW, None

        async def on_batch(msg: Msg) -> None:
            self._read(member, msg)

        try:
            member.subscription = await self._bus.js.subscribe(
                subject, ordered_consumer=True, deliver_policy=policy, config=config, cb=on_batch
            )
        except (nats.errors.Error, TimeoutError) as exc:  # again on the next reconnect
            log.warning("merged view %s: cannot read %s: %s", self.channel.key, subject, exc)

    @staticmethod
    async def _unsubscribe(member: _Member) -> None:
        subscription, member.subscription = member.subscription, None
        if subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    def _read(self, member: _Member, msg: Msg) -> None:
        try:
            batch = LogBatch.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("dropped a malformed log batch on %s: %s", msg.subject, exc)
            return
        member.sequence = msg.metadata.sequence.stream
        now = asyncio.get_running_loop().time()
        for line in batch.lines:
            if self._since is not None and cursor_of(line.time) <= self._since:
                continue  # the resuming client has it
            if self._filter is not None and not self._filter.keeps(line.text):
                continue
            self._window.put(member.container.id, line.time, _merged(member.container, line), now)
        self._flush()

    # -- writing ----------------------------------------------------------------------

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        released = self._window.release(loop.time())
        if released:
            self._send(released)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._window.deadline()
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._flush)

    def _send(self, released: list[Released[MergedLogLine]]) -> None:
        lines = [
            item.line.model_copy(update={"late": True}) if item.late else item.line
            for item in released
        ]
        self._cursor = cursor = max(self._cursor, *(cursor_of(line.time) for line in lines))
        update = Update(
            channel=self.channel.key,
            data=MergedLogBatch(lines=lines).model_dump(mode="json"),
            cursor=cursor,
        )
        frames = (Frame(update.model_dump_json(), cursor),)
        copies = sum(outbox.put_stream(self.channel.key, frames) for outbox in self._subscribers)
        self._flusher.fanned_out("stream", frames, None, copies)


class MergedViews:
    """The `logs.merged` channel's watcher: a view needs a selector."""

    async def admit(self, channel: ChannelRef) -> ChannelRef:
        params = dict(channel.params)
        if "label" not in params and "name" not in params:
            raise ChannelRefused(
                ErrorCode.INVALID_MESSAGE,
                "a merged view needs a selector: label (key or key=value) or name (a glob)",
            )
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Its feed holds its sources' leases itself."""

    def stopped(self, channel: ChannelRef) -> None:
        """Its feed gave its sources' leases up when it stopped."""

    def polled(self, channel: ChannelRef) -> None:
        """Not served by polling."""


def _merged(
    container: Container, line: LogLine, marker: Literal["joined", "left"] | None = None
) -> MergedLogLine:
    return MergedLogLine(
        time=line.time,
        stream=line.stream,
        text=line.text,
        host=container.host,
        container=container.id,
        name=container.name,
        marker=marker,
    )
