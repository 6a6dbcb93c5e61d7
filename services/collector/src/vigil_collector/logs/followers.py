"""A follower per leased container, whichever engine it runs on: the lease bookkeeping,
and a reader thread with its publisher task, started and stopped.

Shared by the Docker and the pod log followers, which say how a reader is made, where
its lines go (the subject, the batch) and how a key reads in logs. A request renews a
holder's lease; the first starts a reader and a publisher (`logs.batches`) that sends
its lines after where the container's last follower stopped (its `Position`); when
every lease has lapsed the reader is shut and what it had read is still sent, for a
while. The positions of the last 1,000 containers followed are kept (`_POSITIONS_KEPT`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import nats.errors

from vigil import ctl
from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import LogLine
from vigil.model import Message
from vigil.operations import Operation
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import Position, Read, finish, publish_lines
from vigil_collector.logs.leases import Leases
from vigil_collector.logs.redaction import Redactor, compile_patterns
from vigil_collector.logs.retention import KeptEnd
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

_CHECK_S = 0.25
_POSITIONS_KEPT = 1000

Key = TypeVar("Key", bound=Hashable)


class Reader(Protocol):
    """A container's log stream read in a thread, handing its lines to the loop."""

    def start(self) -> None: ...

    def shut(self) -> None: ...

    def stop(self, timeout_s: float = 5.0) -> None: ...


Handler = Callable[[Any], Awaitable[Message]]  # a lease request's, answering it
MakeReader = Callable[[Handoff[Read], Position], Reader]  # a reader, not started yet


@dataclass
class Follower:
    reader: Reader
    publisher: asyncio.Task[None]
    restarts: int = 0  # a pod container's, when it was followed (Docker's: 0)


class Followers(Generic[Key]):
    """The followers of one engine's containers, by key (a name, or a pod's triple)."""

    def __init__(self, settings: CollectorSettings, bus: Bus) -> None:
        self._settings = settings
        self._bus = bus
        self._patterns = compile_patterns(settings.redact_patterns)
        self._leases: Leases[Key] = Leases()
        self._followers: dict[Key, Follower] = {}
        self._positions: dict[Key, Position] = {}
        self._lock = asyncio.Lock()

    # -- what differs by engine --------------------------------------------------------

    def _name(self, key: Key) -> str:
        """The key as it reads in logs."""
        raise NotImplementedError

    def _subject(self, key: Key) -> str:
        raise NotImplementedError

    def _batch(self, key: Key, lines: list[LogLine]) -> Message:
        raise NotImplementedError

    def _task_name(self, key: Key) -> str:
        raise NotImplementedError

    async def _ended(self, key: Key, follower: Follower) -> None:
        """A follower whose publisher has ended (its reader's stream ended): forgotten."""
        self._followers.pop(key, None)

    # -- leases ------------------------------------------------------------------------

    async def _renew(
        self, key: Key, holder: str, lease_s: float, start: Callable[[], Awaitable[None]]
    ) -> int:
        """Renew (or give up) `holder`'s lease; the first starts a follower (`start`; a
        refusal gives the lease up again), the last one given up stops it. Returns the
        live holders."""
        holders = self._leases.renew(key, holder, lease_s, time.monotonic())
        async with self._lock:
            if holders and key not in self._followers:
                try:
                    await start()
                except ctl.Refused:
                    self._leases.renew(key, holder, 0, time.monotonic())
                    raise
        if not holders:
            await self._stop(key)
        return holders

    async def serve(self, operation: Operation[Any, Any], follow: Handler) -> None:
        """Answer this host's lease requests of `operation` with `follow` until cancelled
        (the journal's and the log files': one queue group per host)."""
        service = await ctl.serve(
            self._bus, operation, follow, queue=f"vigil-collector-{self._settings.host}"
        )
        try:
            await self.watch_leases()
        finally:
            await self.stop_all(flush=False)
            with contextlib.suppress(nats.errors.Error):
                await service.unsubscribe()

    async def watch_leases(self) -> None:
        """Stop the followers whose leases lapsed, and see to the ones that ended."""
        while True:
            await asyncio.sleep(_CHECK_S)
            for key in self._leases.lapsed(time.monotonic()):
                log.info("the log lease of %s lapsed; stopping its follower", self._name(key))
                await self._stop(key)
            for key, follower in list(self._followers.items()):
                if follower.publisher.done():
                    await self._ended(key, follower)

    async def stop_all(self, *, flush: bool = True) -> None:
        """Stop every follower; with `flush`, after sending what they had read."""
        for follower in self._followers.values():
            follower.reader.shut()  # at once, even if this task is cancelled below
        for key in list(self._followers):
            await self._stop(key, flush=flush)

    @property
    def following(self) -> set[Key]:
        return set(self._followers)

    # -- one follower ------------------------------------------------------------------

    def _redactor(self) -> Redactor:
        return Redactor(self._patterns, defaults=self._settings.redact_defaults)

    async def _start(
        self, key: Key, make_reader: MakeReader, *, restarts: int = 0, kept: KeptEnd | None = None
    ) -> None:
        """Start a reader after the container's position (or, none of its lines batched
        in this process, after `kept`: where LOGS_KEPT's end), and its publisher."""
        handoff: Handoff[Read] = Handoff(
            asyncio.get_running_loop(), self._settings.logs_buffer_lines
        )
        position = self._positions.setdefault(key, Position())
        while len(self._positions) > _POSITIONS_KEPT:
            self._positions.pop(next(iter(self._positions)))
        if not position.nanos:
            position.kept = kept
        await position.take_over()
        reader = make_reader(handoff, position)
        reader.start()
        publisher = asyncio.create_task(
            self._publish(key, handoff, position), name=self._task_name(key)
        )
        position.publisher = publisher
        self._followers[key] = Follower(reader, publisher, restarts)

    async def _stop(self, key: Key, *, flush: bool = True) -> None:
        follower = self._followers.pop(key, None)
        if follower is None:
            return
        await asyncio.to_thread(follower.reader.stop)
        if not flush:
            await stop_task(follower.publisher)
            return
        await finish(follower.publisher, self._settings.logs_finish_s, self._name(key))

    async def _publish(self, key: Key, handoff: Handoff[Read], position: Position) -> None:
        await publish_lines(
            self._bus,
            self._subject(key),
            handoff,
            self._settings,
            lambda lines: self._batch(key, lines),
            position,
        )
