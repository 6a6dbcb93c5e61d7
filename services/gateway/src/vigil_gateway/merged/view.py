"""A merged log view (`logs.merged`): the lines of every container and pod a selector
picks, and of a selection of a host's journal or a log file, in one time order, on one feed shared
by the view's clients on this replica.

The feed follows the container directory (for a Docker selector: `label`, `name`) and
the cluster directory (for a Kubernetes one: `selector`, `workload`): a container or
running pod the selector picks joins (its log lease is held, as for a watcher of its
own logs, and its lines are read from JetStream) and one that stops or goes leaves,
each with a marker line; a journal (`journal` with `host`) is one source, there while
the view is, and so is a log file (`file` with `host`). The lines go through a reorder
window (`reorder`), then out as `update`s of `MergedLogBatch` on the channel, as a
stream: gaps for slow clients, and a cursor, the microsecond of the batch's last line,
to resume with. Resuming reads every source again from that time and skips the lines
up to it; two lines of different sources within that very microsecond could be
skipped or repeated.

Cluster grants: the feed is shared by every subscriber of its channel key, whoever
they are, and a view without `cluster` spans every cluster. So each subscriber comes
with whether it may see a cluster (asked at each send, so a reauth that narrows the
grant counts at once), and is sent only the lines of clusters it may see; pods are
followed only on clusters some subscriber may see.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelRef, resolve_channel
from vigil.journal import JournalSelection
from vigil.messages import ErrorCode, MergedLogBatch, MergedLogLine, Update
from vigil.subjects import Subjects
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.delivery.options import Options
from vigil_gateway.directory.clusters import ClusterDirectory
from vigil_gateway.directory.containers import ContainerDirectory, Selector
from vigil_gateway.directory.leases import FileLogs
from vigil_gateway.directory.pod_selector import PodSelector
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.filters.logs import filter_of
from vigil_gateway.merged.reorder import Released, ReorderWindow
from vigil_gateway.merged.sources import (
    LogSource,
    Marker,
    container_source,
    file_source,
    journal_source,
    pod_source,
)
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.outbox import Outbox
from vigil_gateway.transport.wire import Frame, Frames

log = logging.getLogger(__name__)

CHANNEL = "logs.merged"
Demand = Callable[[ChannelRef, bool], None]  # hold (True) or give up a source's lease


def cursor_of(when: datetime) -> int:
    """A line's time as a cursor: microseconds since the epoch."""
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def time_of(cursor: int) -> datetime:
    """The time a cursor says; one past the last time a datetime holds (a client's
    cursor can be any whole number) is that last time: nothing comes after it."""
    cursor = min(max(cursor, 0), _LAST_CURSOR)
    return datetime.fromtimestamp(cursor // 1_000_000, UTC).replace(microsecond=cursor % 1_000_000)


_LAST_CURSOR = 253_402_300_799 * 1_000_000 + 999_999  # 9999-12-31T23:59:59.999999Z


class SourcePicker:
    """What a view's selectors pick now: containers (`label`, `name`, `host`), pods
    (`selector`, `workload`, `namespace`, `cluster`), pods only on clusters asked for,
    a host's journal (`journal`, `host`) and a host's log file (`file`, `host`)."""

    def __init__(
        self, params: dict[str, str], containers: ContainerDirectory, clusters: ClusterDirectory
    ) -> None:
        self._containers = containers
        self._clusters = clusters
        self.containers: Selector | None = None
        if "label" in params or "name" in params:
            self.containers = Selector(params.get("label"), params.get("name"), params.get("host"))
        self.pods = PodSelector.of(params)
        self.journal: tuple[str, JournalSelection] | None = None
        if "journal" in params and "host" in params:
            self.journal = params["host"], JournalSelection.parse(params["journal"])
        self.file: tuple[str, str] | None = None
        if "file" in params and "host" in params:
            self.file = params["host"], params["file"]

    def directories(self) -> list[ContainerDirectory | ClusterDirectory]:
        """The directories whose changes may change what is picked."""
        followed: list[ContainerDirectory | ClusterDirectory] = []
        if self.containers is not None:
            followed.append(self._containers)
        if self.pods is not None:
            followed.append(self._clusters)
        return followed

    async def clusters(self, sees: SeesCluster) -> set[str]:
        """The known clusters `sees` admits (none without a pod selector)."""
        if self.pods is None:
            return set()
        return {cluster for cluster in await self._clusters.clusters() if sees(cluster)}

    async def pick(self, subjects: Subjects, clusters: set[str]) -> list[LogSource]:
        picked: list[LogSource] = []
        if self.containers is not None:
            chosen = await self._containers.select(self.containers)
            picked += [container_source(container, subjects) for container in chosen]
        if self.pods is not None:
            pods = await self._clusters.select(self.pods)
            picked += [pod_source(pod, subjects) for pod in pods if pod.cluster in clusters]
        if self.journal is not None:
            picked.append(journal_source(*self.journal, subjects))
        if self.file is not None:
            picked.append(file_source(*self.file, subjects))
        return picked


@dataclass
class _Member:
    source: LogSource
    subscription: JetStreamContext.PushSubscription | None = None
    sequence: int = 0  # the last JetStream sequence read, to go on after a reconnect


class MergedFeed:
    def __init__(
        self,
        channel: ChannelRef,
        bus: Bus,
        containers: ContainerDirectory,
        clusters: ClusterDirectory,
        demand: Demand,
        flusher: Flusher,
        *,
        window_s: float,
        since: int | None = None,
    ) -> None:
        self.channel = channel
        self._bus = bus
        self._demand = demand
        self._flusher = flusher
        params = dict(channel.params)
        self._picker = SourcePicker(params, containers, clusters)
        self._filter = filter_of(channel)
        self._since = since
        self._window: ReorderWindow[MergedLogLine] = ReorderWindow(window_s)
        self._members: dict[str, _Member] = {}  # by source key
        self._subscribers: dict[Outbox, SeesCluster] = {}
        self._visible: set[str] = set()  # the clusters some subscriber saw at the last update
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
        for directory in self._picker.directories():
            directory.listen(self._changed)
        for member in self._members.values():  # after a reconnect: where each was
            await self._subscribe(member)
            self._demand(member.source.lease, True)
        await self._refresh(markers=False)

    async def stop(self) -> None:
        self._started = False
        for directory in self._picker.directories():
            directory.unlisten(self._changed)
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for member in self._members.values():  # kept, to go on from after a reconnect
            await self._unsubscribe(member)
            self._demand(member.source.lease, False)

    def attach(self, outbox: Outbox, options: Options, sees_cluster: SeesCluster) -> None:
        self._subscribers[outbox] = sees_cluster
        if self._picker.pods is not None:  # it may see clusters no one else sees
            self._changed()

    def detach(self, outbox: Outbox) -> None:
        self._subscribers.pop(outbox, None)
        if self._picker.pods is not None and self._subscribers:
            self._changed()

    # -- membership -------------------------------------------------------------------

    def _changed(self) -> None:
        if not self._started:  # `start` looks afresh
            return
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
        # pods are followed only on the clusters some subscriber may see
        visible = await self._picker.clusters(
            lambda cluster: any(sees(cluster) for sees in self._subscribers.values())
        )
        picked = {s.key: s for s in await self._picker.pick(self._bus.subjects, visible)}
        for key in [key for key in self._members if key not in picked]:
            member = self._members.pop(key)
            await self._unsubscribe(member)
            self._demand(member.source.lease, False)
            self._window.remove_source(key)
            self._mark(member.source, "left")
        for source in picked.values():
            if (known := self._members.get(source.key)) is not None:
                known.source = source  # renamed (a deploy's switch): lines say its new name
                continue
            member = self._members[source.key] = _Member(source)
            self._window.add_source(source.key)
            await self._subscribe(member)
            self._demand(source.lease, True)
            # A pod whose cluster only now has a subscriber that may see it did not
            # start: it was not shown before.
            if markers and (source.cluster is None or source.cluster in self._visible):
                self._mark(source, "joined")
        self._visible = visible
        self._flush()

    def _mark(self, source: LogSource, marker: Marker) -> None:
        now = datetime.now(UTC)
        line = source.marker(marker, now)
        self._window.put(source.key, now, line, asyncio.get_running_loop().time())

    # -- reading ----------------------------------------------------------------------

    async def _subscribe(self, member: _Member) -> None:
        subject = member.source.subject
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
            lines = member.source.read(msg.data)
        except ValidationError as exc:
            log.warning("dropped a malformed log batch on %s: %s", msg.subject, exc)
            return
        member.sequence = msg.metadata.sequence.stream
        now = asyncio.get_running_loop().time()
        for line in lines:
            if self._since is not None and cursor_of(line.time) <= self._since:
                continue  # the resuming client has it
            if self._filter is not None and not self._filter.keeps(line.text):
                continue
            self._window.put(member.source.key, line.time, line, now)
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
        clusters = {line.cluster for line in lines if line.cluster is not None}
        # Rendered once per set of clusters hidden from someone: all shown, mostly.
        rendered: dict[frozenset[str], Frames] = {}
        copies: Counter[frozenset[str]] = Counter()
        for outbox, sees in self._subscribers.items():
            hidden = frozenset(cluster for cluster in clusters if not sees(cluster))
            if hidden not in rendered:
                shown = [line for line in lines if line.cluster not in hidden]
                rendered[hidden] = self._frames(shown, cursor) if shown else ()
            if rendered[hidden]:
                copies[hidden] += outbox.put_stream(self.channel.key, rendered[hidden])
        for hidden, frames in rendered.items():
            self._flusher.fanned_out("stream", frames, None, copies[hidden])

    def _frames(self, lines: list[MergedLogLine], cursor: int) -> Frames:
        update = Update(
            channel=self.channel.key,
            data=MergedLogBatch(lines=lines).model_dump(mode="json"),
            cursor=cursor,
        )
        return (Frame(update.model_dump_json(), cursor),)


class MergedViews:
    """The `logs.merged` channel's watcher: a view needs a selector, of containers
    (`label`, `name`), of pods (`selector`, `workload`), of a host's journal (`journal`
    with `host`), of a host's log file (`file` with `host`, one its collector allows)
    or several; `host` narrows containers, `namespace` and `cluster` pods, and a
    `cluster` must be known."""

    def __init__(self, clusters: ClusterDirectory, files: FileLogs) -> None:
        self._clusters = clusters
        self._files = files

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        params = dict(channel.params)
        containers = "label" in params or "name" in params
        pods = "selector" in params or "workload" in params
        journal = "journal" in params
        file = "file" in params
        if not containers and not pods and not journal and not file:
            raise ChannelRefused(
                ErrorCode.INVALID_MESSAGE,
                "a merged view needs a selector: of containers, label (key or key=value) or"
                " name (a glob); of pods, selector (app=web,tier!=db) or workload"
                " (deployment/web); of a host's journal, journal (unit=NAME,priority<=LEVEL"
                " or all) with host; of a host's log file, file (its short name) with host",
            )
        if journal and "host" not in params:
            raise ChannelRefused(
                ErrorCode.INVALID_MESSAGE, "journal is a host's: give host too (host=web1)"
            )
        if file and "host" not in params:
            raise ChannelRefused(
                ErrorCode.INVALID_MESSAGE, "file is a host's: give host too (host=web1)"
            )
        if "host" in params and not containers and not journal and not file:
            raise ChannelRefused(
                ErrorCode.INVALID_MESSAGE,
                "host narrows containers or names a journal or a log file: give label, name,"
                " journal or file too",
            )
        for narrowing in ("namespace", "cluster"):
            if narrowing in params and not pods:
                raise ChannelRefused(
                    ErrorCode.INVALID_MESSAGE,
                    f"{narrowing} narrows pods: give selector or workload too",
                )
        if "cluster" in params:
            await self._clusters.check(params["cluster"])
        if file:
            await self._files.check(params["host"], params["file"])
        if journal:  # one canonical form: views of the same selection share a feed
            selection = JournalSelection.parse(params["journal"])
            return resolve_channel(channel.spec.name, params | {"journal": selection.text})
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Its feed holds its sources' leases itself."""

    def stopped(self, channel: ChannelRef) -> None:
        """Its feed gave its sources' leases up when it stopped."""

    def polled(self, channel: ChannelRef) -> None:
        """A poll holds its sources' leases itself (`merged_polling`)."""
