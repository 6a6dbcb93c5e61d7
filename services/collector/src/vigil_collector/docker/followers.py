"""Logs on demand: a follower per leased container, stopped when its lease lapses.

`FollowLogs` requests (`ctl.logs.follow`) renew a holder's lease; the first one starts
a `LogReader` thread (the last `tail` lines first, then live) and a publisher task
that sends the lines in `LogBatch`es every `batch_s` to the LOGS stream, in order.
A batch NATS does not ack is sent again (under the same id: kept once), and the reader
waits while lines pile up, so none is lost, doubled or reordered on the way to the
stream (`logs.batches`). When every lease has lapsed the reader's socket is shut, its
thread ends, and what it had read is still sent, for a while: a lease lapses while
the bus is away too, and then the next follower sends it. A container that stops ends
its follower; if it starts again while leased, a new one picks up after the last line
batched.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from vigil import ctl
from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import ErrorCode, FollowLogs, LogBatch, LogsFollowed
from vigil_collector.docker.engine import UNREACHABLE, describe, is_missing
from vigil_collector.docker.log_reader import LogReader
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import Position, Read, finish, publish_lines
from vigil_collector.logs.leases import Leases
from vigil_collector.logs.redaction import Redactor, compile_patterns
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

_CHECK_S = 0.25
_POSITIONS_KEPT = 1000


@dataclass
class _Follower:
    reader: LogReader
    publisher: asyncio.Task[None]


class LogFollowers:
    def __init__(self, settings: CollectorSettings, bus: Bus) -> None:
        self._settings = settings
        self._bus = bus
        self._patterns = compile_patterns(settings.redact_patterns)
        self._api: Any = None
        self._leases = Leases()
        self._followers: dict[str, _Follower] = {}
        self._positions: dict[str, Position] = {}
        self._lock = asyncio.Lock()

    # -- the engine comes and goes ---------------------------------------------------

    def attach(self, api: Any) -> None:
        self._api = api

    async def detach(self) -> None:
        self._api = None
        await self.stop_all()

    # -- requests ----------------------------------------------------------------------

    async def follow(self, request: FollowLogs) -> LogsFollowed:
        """The `ctl.logs.follow` handler."""
        if request.host != self._settings.host:
            raise ctl.NotMine()
        api = self._api
        if api is None:
            raise ctl.Refused(ErrorCode.UNAVAILABLE, "the Docker engine is unavailable")
        holders = self._leases.renew(
            request.container, request.holder, request.lease_s, time.monotonic()
        )
        async with self._lock:
            if holders and request.container not in self._followers:
                try:
                    await self._start(api, request.container, request.tail)
                except ctl.Refused:
                    self._leases.renew(request.container, request.holder, 0, time.monotonic())
                    raise
        if not holders:
            await self._stop(request.container)
        return LogsFollowed(
            host=request.host,
            container=request.container,
            following=request.container in self._followers,
            holders=holders,
        )

    async def container_started(self, container: str) -> None:
        """A leased container started again: follow it again."""
        api = self._api
        if api is None or not self._leases.held(container, time.monotonic()):
            return
        async with self._lock:
            if container not in self._followers:
                with contextlib.suppress(ctl.Refused):
                    await self._start(api, container, self._settings.logs_tail)

    async def watch_leases(self) -> None:
        """Stop the followers whose leases lapsed, and forget the ones that ended."""
        while True:
            await asyncio.sleep(_CHECK_S)
            for container in self._leases.lapsed(time.monotonic()):
                log.info("the log lease of %s lapsed; stopping its follower", container)
                await self._stop(container)
            for container, follower in list(self._followers.items()):
                if follower.publisher.done():
                    self._followers.pop(container, None)

    async def stop_all(self, *, flush: bool = True) -> None:
        """Stop every follower; with `flush`, after sending what they had read."""
        for follower in self._followers.values():
            follower.reader.shut()  # at once, even if this task is cancelled below
        for container in list(self._followers):
            await self._stop(container, flush=flush)

    @property
    def following(self) -> set[str]:
        return set(self._followers)

    # -- one follower ------------------------------------------------------------------

    async def _start(self, api: Any, container: str, tail: int) -> None:
        try:
            info = await asyncio.to_thread(api.inspect_container, container)
        except UNREACHABLE as exc:
            if is_missing(exc):
                raise ctl.Refused(ErrorCode.NOT_FOUND, f"no container {container!r}") from exc
            raise ctl.Refused(ErrorCode.UNAVAILABLE, describe(exc)) from exc
        settings = self._settings
        handoff: Handoff[Read] = Handoff(asyncio.get_running_loop(), settings.logs_buffer_lines)
        position = self._positions.setdefault(container, Position())
        while len(self._positions) > _POSITIONS_KEPT:
            self._positions.pop(next(iter(self._positions)))
        await position.take_over()
        reader = LogReader(
            api,
            info["Id"],
            tty=bool((info.get("Config") or {}).get("Tty")),
            tail=tail,
            after=position,
            max_line_bytes=settings.logs_max_line_bytes,
            redactor=Redactor(self._patterns, defaults=settings.redact_defaults),
            handoff=handoff,
        )
        reader.start()
        publisher = asyncio.create_task(
            self._publish(container, handoff, position), name=f"logs-publisher-{container}"
        )
        position.publisher = publisher
        self._followers[container] = _Follower(reader, publisher)
        log.info("following the logs of %s", container)

    async def _stop(self, container: str, *, flush: bool = True) -> None:
        follower = self._followers.pop(container, None)
        if follower is None:
            return
        await asyncio.to_thread(follower.reader.stop)
        if not flush:
            await stop_task(follower.publisher)
            return
        await finish(follower.publisher, self._settings.logs_finish_s, container)

    async def _publish(self, container: str, handoff: Handoff[Read], position: Position) -> None:
        host = self._settings.host
        await publish_lines(
            self._bus,
            self._bus.subjects.docker_logs(host, container),
            handoff,
            self._settings,
            lambda lines: LogBatch(host=host, container=container, lines=lines),
            position,
        )
