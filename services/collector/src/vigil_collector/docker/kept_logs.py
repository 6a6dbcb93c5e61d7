"""Kept logs: this host's retained containers followed all the time, their lines kept
in LOGS_KEPT by container name.

A container is retained when it carries the keep label (`logs_keep_label`, by default
`vigil.keep-logs=true`) or the host keeps every container (`logs_keep_all`). The source
hands over each container status (`seen`: the snapshot, then every event); a retained
container that runs gets a follower of its own, no lease needed, whose lines go on
`keptlogs.docker.{host}.{name}` in compact `KeptLogBatch`es. By name, so a container
recreated under it continues the same history; the first batch of each generation (a
new container id under the name) carries a `Generation` marker. A container that stops
ends its follower; when it (or its successor) starts, a new one reads from after the
last line kept. The first follower of a name in this process (the collector started
again) reads the same container (id) from after the last line LOGS_KEPT holds of it
(`logs.retention`); a container none of whose lines are kept, from its first line, or,
when nothing is kept under its name yet and it was running before the collector
started, from its last `logs_tail` lines. Redaction, batching, ordering and acks are
the lease followers' (`logs.followers`, `logs.batches`).
"""

import logging
import sys
from collections.abc import Mapping
from typing import Any

from vigil import ctl
from vigil.bus import Bus
from vigil.messages import (
    ContainerState,
    ContainerStatusChanged,
    Generation,
    KeptLogBatch,
    LogLine,
)
from vigil.names import NameKind, is_name
from vigil_collector.docker.followers import inspect, reader_of
from vigil_collector.docker.log_reader import Tail
from vigil_collector.logs.followers import Followers
from vigil_collector.logs.lines import parse_time
from vigil_collector.logs.retention import KeepLabel, KeptEnd, compact, last_kept
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

_NAMES_KEPT = 1000


class KeptLogs(Followers[str]):
    """The followers of the retained containers, by name."""

    def __init__(self, settings: CollectorSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self._api: Any = None
        self._label = KeepLabel(settings.logs_keep_label)
        self._generations: dict[str, Generation] = {}  # name -> the container followed
        self._marked: dict[str, str] = {}  # name -> the id whose marker went out
        self._kept_ids: set[str] = set()

    def attach(self, api: Any) -> None:
        self._api = api

    async def detach(self) -> None:
        self._api = None
        await self.stop_all()

    def retained(self, labels: Mapping[str, str]) -> bool:
        return self._settings.logs_keep_all or self._label.on(labels)

    def keeps(self, container: str) -> bool:
        """Whether the lines of this container (its short id) are kept."""
        return container in self._kept_ids

    async def seen(self, status: ContainerStatusChanged) -> None:
        """A container's status: a retained one that runs is followed (its generation's
        follower, after the last one's lines are sent)."""
        api = self._api
        if status.status is ContainerState.REMOVED:
            self._kept_ids.discard(status.id)
        if api is None or status.status is not ContainerState.RUNNING:
            return
        if status.event not in ("snapshot", "start") or not self.retained(status.labels):
            return
        name = status.name
        if not is_name(NameKind.CONTAINER, name):  # a subject's token: no dots
            log.warning("not keeping the logs of %s: its name is not a subject's token", name)
            return
        async with self._lock:
            current = self._generations.get(name)
            if name in self._followers and current is not None and current.id == status.id:
                return
            await self._stop(name)  # the last generation's, should it still run
            try:
                info = await inspect(api, status.id)
            except ctl.Refused as exc:  # gone already
                log.info("not keeping the logs of %s: %s", name, exc.message)
                return
            started = (info.get("State") or {}).get("StartedAt") or ""
            try:
                when = parse_time(started.encode())[0]
            except ValueError:
                when = status.time
            self._generations[name] = Generation(id=status.id, started=when)
            self._kept_ids.add(status.id)
            self._forget_old()
            position = self._positions.get(name)
            tail: Tail = "all" if status.event == "start" else self._settings.logs_tail
            kept = None
            if position is not None and position.nanos:
                tail = 0  # resumes after the last line kept, however long ago
            else:  # none kept by this process: after what LOGS_KEPT holds of it
                last = await last_kept(self._bus, self._subject(name), KeptLogBatch)
                if last is not None and last.id == status.id:
                    kept = KeptEnd.of(last)
                elif last is not None:
                    tail = "all"  # a generation none of whose lines were kept yet
            await self._start(name, lambda handoff, position: reader_of(
                self._settings, api, info, tail, position, self._redactor(), handoff,
                resume_within_ns=sys.maxsize,
            ), kept=kept)  # fmt: skip
        log.info("keeping the logs of %s (%s)", name, status.id)

    def _forget_old(self) -> None:
        """The generations of at most `_NAMES_KEPT` names are remembered (not of those
        followed): a host that keeps every container may see endless new names."""
        for name in list(self._generations)[: max(0, len(self._generations) - _NAMES_KEPT)]:
            if name not in self._followers:
                generation = self._generations.pop(name)
                self._marked.pop(name, None)
                self._kept_ids.discard(generation.id)

    def _name(self, key: str) -> str:
        return key

    def _subject(self, key: str) -> str:
        return self._bus.subjects.kept_docker_logs(self._settings.host, key)

    def _batch(self, key: str, lines: list[LogLine]) -> KeptLogBatch:
        generation = self._generations[key]
        marker = None
        if self._marked.get(key) != generation.id:
            self._marked[key] = generation.id
            marker = generation
        start, compacted = compact(lines)
        stderr = [index for index, line in enumerate(lines) if line.stream == "stderr"]
        return KeptLogBatch(
            host=self._settings.host,
            container=key,
            id=generation.id,
            generation=marker,
            start=start,
            lines=compacted,
            stderr=stderr or None,
        )

    def _task_name(self, key: str) -> str:
        return f"kept-logs-publisher-{key}"
