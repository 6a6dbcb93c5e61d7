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
batched. The lease bookkeeping and a follower's start and stop are shared with the pod
log followers (`logs.followers`); what is Docker's here is the engine, the reader and
the batch.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from vigil import ctl
from vigil.bus import Bus
from vigil.messages import ErrorCode, FollowLogs, LogBatch, LogLine, LogsFollowed
from vigil_collector.docker.engine import UNREACHABLE, describe, is_missing
from vigil_collector.docker.log_reader import LogReader, Tail
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import RESUME_WITHIN_NS, Position, Read
from vigil_collector.logs.followers import Followers
from vigil_collector.logs.redaction import Redactor
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)


async def inspect(api: Any, container: str) -> dict[str, Any]:
    """The engine's view of a container about to be followed (raises `ctl.Refused`)."""
    try:
        info: dict[str, Any] = await asyncio.to_thread(api.inspect_container, container)
    except UNREACHABLE as exc:
        if is_missing(exc):
            raise ctl.Refused(ErrorCode.NOT_FOUND, f"no container {container!r}") from exc
        raise ctl.Refused(ErrorCode.UNAVAILABLE, describe(exc)) from exc
    return info


def reader_of(
    settings: CollectorSettings,
    api: Any,
    info: dict[str, Any],
    tail: Tail,
    position: Position,
    redactor: Redactor,
    handoff: Handoff[Read],
    *,
    resume_within_ns: int = RESUME_WITHIN_NS,
) -> LogReader:
    """The reader of the container `info` inspected, after `position`."""
    return LogReader(
        api,
        info["Id"],
        tty=bool((info.get("Config") or {}).get("Tty")),
        tail=tail,
        after=position,
        resume_within_ns=resume_within_ns,
        max_line_bytes=settings.logs_max_line_bytes,
        redactor=redactor,
        handoff=handoff,
    )


class LogFollowers(Followers[str]):
    def __init__(self, settings: CollectorSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self._api: Any = None
        self.kept: Callable[[str], bool] = lambda container: False
        """Whether a container's lines are kept too (`docker.kept_logs`): its batches say so."""

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
        holders = await self._renew(
            request.container,
            request.holder,
            request.lease_s,
            lambda: self._follow(api, request.container, request.tail),
        )
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
                    await self._follow(api, container, self._settings.logs_tail)

    # -- one follower ------------------------------------------------------------------

    async def _follow(self, api: Any, container: str, tail: int) -> None:
        info = await inspect(api, container)
        await self._start(container, lambda handoff, position: reader_of(
            self._settings, api, info, tail, position, self._redactor(), handoff
        ))  # fmt: skip
        log.info("following the logs of %s", container)

    def _name(self, key: str) -> str:
        return key

    def _subject(self, key: str) -> str:
        return self._bus.subjects.docker_logs(self._settings.host, key)

    def _batch(self, key: str, lines: list[LogLine]) -> LogBatch:
        return LogBatch(
            host=self._settings.host, container=key, lines=lines, kept=self.kept(key) or None
        )

    def _task_name(self, key: str) -> str:
        return f"logs-publisher-{key}"
