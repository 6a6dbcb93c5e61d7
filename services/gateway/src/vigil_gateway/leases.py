"""Log leases: while a `docker.logs` feed of this replica has watchers, hold its lease.

The hub tells the leases when such a feed starts and stops. The first one for a
container starts a task that sends `FollowLogs` (`ctl.logs.follow`) to the collector
of the container's host at once and then every third of the lease, so the collector
follows the logs while anyone on any replica watches; the last one gives the lease up
(and were that lost, the lease would lapse by itself). Before a feed starts, `admit`
turns what the client typed into the container's id and host, or refuses. A poll,
with no feed, asks for one lease's length of its own.
"""

import asyncio
import contextlib
import logging
from collections import Counter

from vigil import ctl
from vigil.bus import Bus
from vigil.channels import ChannelRef, resolve_channel
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.messages import ErrorCode, FollowLogs
from vigil.operations import Logs
from vigil_gateway.containers import ContainerDirectory

log = logging.getLogger(__name__)

CHANNEL = "docker.logs"


class LogLeases:
    def __init__(
        self,
        bus: Bus,
        directory: ContainerDirectory,
        *,
        holder: str,
        lease_s: float,
        tail: int,
    ) -> None:
        self._bus = bus
        self._directory = directory
        self._holder = holder
        self._lease_s = lease_s
        self._tail = tail
        self._feeds: Counter[tuple[str, str]] = Counter()
        self._holding: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._requests: set[asyncio.Task[None]] = set()  # one-off calls in flight

    async def admit(self, channel: ChannelRef) -> ChannelRef:
        """`docker.logs` with the container's short id and host (raises `ChannelRefused`)."""
        params = dict(channel.params)
        found = await self._directory.find(params["container"], params.get("host"))
        return resolve_channel(CHANNEL, {"container": found.id, "host": found.host})

    def started(self, channel: ChannelRef) -> None:
        target = self._target(channel)
        self._feeds[target] += 1
        if target not in self._holding:
            self._holding[target] = asyncio.create_task(
                self._hold(*target), name=f"log-lease-{target[1]}"
            )

    def stopped(self, channel: ChannelRef) -> None:
        target = self._target(channel)
        self._feeds[target] -= 1
        if self._feeds[target] > 0:
            return
        del self._feeds[target]
        holding = self._holding.pop(target, None)
        if holding is not None:
            holding.cancel()
            host, container = target
            self._call(FollowLogs(host=host, container=container, holder=self._holder, lease_s=0))

    def polled(self, channel: ChannelRef) -> None:
        """A poll: demand for a lease's length (renewed by the next poll), so the
        collector follows the logs and the poller's next page finds their lines."""
        host, container = self._target(channel)
        request = FollowLogs(
            host=host,
            container=container,
            holder=f"{self._holder}.polls",
            lease_s=self._lease_s,
            tail=self._tail,
        )
        self._call(request)

    @property
    def held(self) -> set[tuple[str, str]]:
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

    @staticmethod
    def _target(channel: ChannelRef) -> tuple[str, str]:
        params = dict(channel.params)
        return params.get("host", ""), params["container"]

    async def _hold(self, host: str, container: str) -> None:
        request = FollowLogs(
            host=host,
            container=container,
            holder=self._holder,
            lease_s=self._lease_s,
            tail=self._tail,
        )
        every = self._lease_s / 3
        while True:
            try:
                await ctl.call(self._bus, Logs.FOLLOW, request, timeout_s=every)
                wait = every
            except ctl.Refused as exc:
                level = logging.INFO if exc.code is ErrorCode.NOT_FOUND else logging.WARNING
                log.log(level, "log lease on %s/%s refused: %s", host, container, exc.message)
                wait = every
            except BusUnavailable as exc:  # the collector or NATS is away: soon again
                log.warning("log lease on %s/%s not renewed: %s", host, container, exc.reason)
                wait = min(1.0, every)
            await asyncio.sleep(wait)

    def _call(self, request: FollowLogs) -> None:
        task = asyncio.create_task(self._ask(request))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _ask(self, request: FollowLogs) -> None:
        with contextlib.suppress(ctl.Refused, BusUnavailable):  # it lapses by itself
            await ctl.call(self._bus, Logs.FOLLOW, request, timeout_s=2)
