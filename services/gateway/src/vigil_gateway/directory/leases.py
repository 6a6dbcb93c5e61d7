"""Log leases: while a logs feed of this replica has watchers, hold its lease.

The hub tells the leases when such a feed starts and stops. The first one for a
target (a Docker container, a pod's container, a selection of a host's journal, a
host's log file) starts a task that sends the follow request of its kind
(`ctl.logs.follow`, `ctl.logs.k8s_follow`, `ctl.logs.journal_follow`,
`ctl.logs.file_follow`) to the collector at
once and then every third of the lease, so the collector follows the logs while
anyone on any replica watches; the last one gives the lease up (and were that lost,
the lease would lapse by itself). Before a feed starts, `admit` turns what the client
typed into the target, or refuses. A poll, with no feed, asks for one lease's length
of its own. What differs per source is a `LeaseKind`.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any, Protocol

from vigil import ctl
from vigil.bus import Bus
from vigil.channels import ChannelRef, resolve_channel
from vigil.errors import BusUnavailable
from vigil.journal import JournalSelection
from vigil.lifecycle import stop_task
from vigil.messages import ErrorCode, FollowFile, FollowJournal, FollowLogs, FollowPodLogs
from vigil.model import Message
from vigil.operations import Logs, Operation
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.directory.clusters import ClusterDirectory
from vigil_gateway.directory.containers import ContainerDirectory
from vigil_gateway.directory.hosts import HostExistence
from vigil_gateway.errors import ChannelRefused

log = logging.getLogger(__name__)

Target = tuple[str, ...]
_CHECK_S = 3.0  # a collector's answer whether it allows a log file


class LeaseKind(Protocol):
    channel: str
    operation: Operation[Any, Any]

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef: ...

    def target(self, channel: ChannelRef) -> Target: ...

    def request(self, target: Target, holder: str, lease_s: float, tail: int) -> Message: ...


class ContainerLogs:
    """`docker.logs`: a container by id, name or unique prefix, on its host."""

    channel = "docker.logs"
    operation = Logs.FOLLOW

    def __init__(self, directory: ContainerDirectory) -> None:
        self._directory = directory

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        """`docker.logs` with the container's short id and host (raises `ChannelRefused`)."""
        params = dict(channel.params)
        found = await self._directory.find(params["container"], params.get("host"))
        return resolve_channel(self.channel, params | {"container": found.id, "host": found.host})

    def target(self, channel: ChannelRef) -> Target:
        params = dict(channel.params)
        return params.get("host", ""), params["container"]

    def request(self, target: Target, holder: str, lease_s: float, tail: int) -> Message:
        host, container = target
        return FollowLogs(host=host, container=container, holder=holder, lease_s=lease_s, tail=tail)


class PodLogs:
    """`k8s.logs`: a pod's container (the first when not named) in a known cluster."""

    channel = "k8s.logs"
    operation = Logs.K8S_FOLLOW

    def __init__(self, directory: ClusterDirectory) -> None:
        self._directory = directory

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        params = dict(channel.params)
        await self._directory.check(params["cluster"], params["namespace"], params["pod"])
        return channel

    def target(self, channel: ChannelRef) -> Target:
        params = dict(channel.params)
        return params["cluster"], params["namespace"], params["pod"], params.get("container", "")

    def request(self, target: Target, holder: str, lease_s: float, tail: int) -> Message:
        cluster, namespace, pod, container = target
        return FollowPodLogs(
            cluster=cluster,
            namespace=namespace,
            pod=pod,
            container=container or None,
            holder=holder,
            lease_s=lease_s,
            tail=tail,
        )


class JournalLogs:
    """`host.journal`: a selection of a host's journal (`journal`, default all) on a
    host some collector has reported, named in its one canonical form so that views of
    the same selection share a follower."""

    channel = "host.journal"
    operation = Logs.JOURNAL_FOLLOW

    def __init__(self, hosts: HostExistence) -> None:
        self._hosts = hosts

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        await self._hosts.admit(channel, sees_cluster)
        params = dict(channel.params)
        selection = JournalSelection.parse(params.get("journal", "all"))
        return resolve_channel(self.channel, params | {"journal": selection.text})

    def target(self, channel: ChannelRef) -> Target:
        params = dict(channel.params)
        return params["host"], params.get("journal", "all")

    def request(self, target: Target, holder: str, lease_s: float, tail: int) -> Message:
        host, text = target
        selection = JournalSelection.parse(text)
        return FollowJournal(
            host=host,
            unit=selection.unit,
            priority=selection.priority,
            holder=holder,
            lease_s=lease_s,
            tail=tail,
        )


class FileLogs:
    """`host.file`: a log file of a host some collector has reported, by the short name
    its collector's allow-list gives it. The allow-list is the collector's alone, so
    admitting asks it (a request that holds no lease): a name it does not allow is
    refused as it says (NOT_FOUND, with the names there are)."""

    channel = "host.file"
    operation = Logs.FILE_FOLLOW

    def __init__(self, bus: Bus, hosts: HostExistence) -> None:
        self._bus = bus
        self._hosts = hosts

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        await self._hosts.admit(channel, sees_cluster)
        params = dict(channel.params)
        await self.check(params["host"], params["file"])
        return channel

    async def check(self, host: str, file: str) -> None:
        """Raises `ChannelRefused` unless `host`'s collector allows `file`."""
        request = FollowFile(host=host, file=file, holder="admission", lease_s=0)
        try:
            await ctl.call(self._bus, self.operation, request, timeout_s=_CHECK_S)
        except ctl.Refused as exc:
            raise ChannelRefused(exc.code, exc.message) from None
        except BusUnavailable as exc:
            raise ChannelRefused(
                ErrorCode.UNAVAILABLE, f"the collector of {host} did not answer: {exc.reason}"
            ) from None

    def target(self, channel: ChannelRef) -> Target:
        params = dict(channel.params)
        return params["host"], params["file"]

    def request(self, target: Target, holder: str, lease_s: float, tail: int) -> Message:
        host, file = target
        return FollowFile(host=host, file=file, holder=holder, lease_s=lease_s, tail=tail)


class LogLeases:
    def __init__(
        self, bus: Bus, kind: LeaseKind, *, holder: str, lease_s: float, tail: int
    ) -> None:
        self._bus = bus
        self._kind = kind
        self._holder = holder
        self._lease_s = lease_s
        self._tail = tail
        self._feeds: Counter[Target] = Counter()
        self._holding: dict[Target, asyncio.Task[None]] = {}
        self._requests: set[asyncio.Task[None]] = set()  # one-off calls in flight

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        return await self._kind.admit(channel, sees_cluster)

    def started(self, channel: ChannelRef) -> None:
        target = self._kind.target(channel)
        self._feeds[target] += 1
        if target not in self._holding:
            self._holding[target] = asyncio.create_task(
                self._hold(target), name=f"log-lease-{'/'.join(target)}"
            )

    def stopped(self, channel: ChannelRef) -> None:
        target = self._kind.target(channel)
        self._feeds[target] -= 1
        if self._feeds[target] > 0:
            return
        del self._feeds[target]
        holding = self._holding.pop(target, None)
        if holding is not None:
            holding.cancel()
            self._call(self._kind.request(target, self._holder, 0, self._tail))

    def polled(self, channel: ChannelRef) -> None:
        """A poll: demand for a lease's length (renewed by the next poll), so the
        collector follows the logs and the poller's next page finds their lines."""
        target = self._kind.target(channel)
        holder = f"{self._holder}.polls"
        self._call(self._kind.request(target, holder, self._lease_s, self._tail))

    @property
    def held(self) -> set[Target]:
        return set(self._holding)

    async def close(self) -> None:
        """Stop renewing; give the leases up (bounded: they lapse anyway)."""
        for task in self._holding.values():
            await stop_task(task)
        self._holding.clear()
        if self._requests:
            await asyncio.wait(self._requests, timeout=2.0)
        for task in list(self._requests):
            await stop_task(task)

    async def _hold(self, target: Target) -> None:
        request = self._kind.request(target, self._holder, self._lease_s, self._tail)
        every = self._lease_s / 3
        where = "/".join(target)
        while True:
            try:
                await ctl.call(self._bus, self._kind.operation, request, timeout_s=every)
                wait = every
            except ctl.Refused as exc:
                level = logging.INFO if exc.code is ErrorCode.NOT_FOUND else logging.WARNING
                log.log(level, "log lease on %s refused: %s", where, exc.message)
                wait = every
            except BusUnavailable as exc:  # the collector or NATS is away: soon again
                log.warning("log lease on %s not renewed: %s", where, exc.reason)
                wait = min(1.0, every)
            await asyncio.sleep(wait)

    def _call(self, request: Message) -> None:
        task = asyncio.create_task(self._ask(request))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _ask(self, request: Message) -> None:
        with contextlib.suppress(ctl.Refused, BusUnavailable):  # it lapses by itself
            await ctl.call(self._bus, self._kind.operation, request, timeout_s=2)
