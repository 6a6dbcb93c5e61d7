"""Stats of every running container from the host's cgroup files: no engine work at all.

One thread reads, per container, a handful of files it keeps open (`cgroup_counters`);
the engine only says which containers run (`running_containers`). CPU % is the
container's CPU time over the wall time between this reader's own two reads of it,
times 100 (100 = one CPU busy): what `docker stats` computes from the engine's
samples, whose "system" time is wall time times the CPUs. Rates are over the same span.
A container whose cgroup cannot be found, or goes away while read (it stopped), is left
out of that cycle and tried again in the next while the engine says it runs.
"""

import logging
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vigil.messages import ContainerStats, DockerStatsSampled
from vigil_collector.docker.cgroup_counters import ContainerFiles, Counters
from vigil_collector.docker.cgroups import CgroupTree
from vigil_collector.docker.running_containers import RunningContainer
from vigil_collector.docker.stats_batch import container_stats, stats_batch
from vigil_collector.errors import ContainerGone

log = logging.getLogger(__name__)

# Seven files a container are kept open: room for a few thousand containers.
_OPEN_FILES_WANTED = 65_536


@dataclass(frozen=True, slots=True)
class _Read:
    at: float
    counters: Counters


def host_memory(proc_root: Path) -> int:
    """MemTotal in bytes (a container without a memory limit shows it, as in dockerd)."""
    for line in (proc_root / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, _OPEN_FILES_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class CgroupStats:
    """Samples from cgroups; `sample()` blocks (file reads), so it runs in a thread."""

    kind: Literal["cgroup"] = "cgroup"

    def __init__(
        self,
        tree: CgroupTree,
        proc_root: Path,
        host: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._tree = tree
        self._proc = proc_root
        self._host = host
        self._memory_total = host_memory(proc_root)
        raise_open_files_limit()
        # By (id, pid): a restarted container has a new process, and new cgroup files.
        self._files: dict[tuple[str, int], ContainerFiles] = {}
        self._previous: dict[tuple[str, int], _Read] = {}
        self._unplaced: set[str] = set()  # said once in the log
        self._last_cycle: float | None = None

    def sample(self, running: Sequence[RunningContainer]) -> DockerStatsSampled:
        started = self._clock()
        keys = {(c.id, c.pid) for c in running}
        for key in set(self._files) - keys:  # stopped: close its files
            self._files.pop(key).close()
        previous, self._previous = self._previous, {}
        containers: list[ContainerStats] = []
        for container in running:
            key = (container.id, container.pid)
            files = self._files.get(key) or self._open(container)
            if files is None:
                continue
            try:
                counters = files.read()
            except ContainerGone:  # stopped while read: its event comes
                self._files.pop(key).close()
                continue
            now = _Read(self._clock(), counters)
            self._previous[key] = now
            containers.append(self._figures(container, now, previous.get(key)))
        interval = 0.0 if self._last_cycle is None else started - self._last_cycle
        self._last_cycle = started
        return stats_batch(self._host, interval, containers)

    def close(self) -> None:
        for files in self._files.values():
            files.close()
        self._files.clear()

    def _open(self, container: RunningContainer) -> ContainerFiles | None:
        try:
            own = (self._proc / str(container.pid) / "cgroup").read_text()
        except OSError:  # its process ended: it stopped
            return None
        cgroup = self._tree.place(container.id, own)
        if cgroup is None:
            if container.id not in self._unplaced:
                self._unplaced.add(container.id)
                log.warning(
                    "no cgroup of container %s (%s) under %s: left out of the stats",
                    container.name,
                    container.short_id,
                    self._tree.root,
                )
            return None
        # On the host's network, its namespace's counters are the host's: not counted
        # (`docker stats` shows none). A `container:<id>` network shows the shared
        # namespace's, as `docker stats` does.
        net_dev = (
            None if container.host_network else self._proc / str(container.pid) / "net" / "dev"
        )
        try:
            files = ContainerFiles(cgroup, net_dev, self._memory_total)
        except ContainerGone:
            return None
        self._files[(container.id, container.pid)] = files
        return files

    @staticmethod
    def _figures(container: RunningContainer, now: _Read, before: _Read | None) -> ContainerStats:
        counters = now.counters
        cpu_percent = rx_per_s = tx_per_s = 0.0
        elapsed = now.at - before.at if before is not None else 0.0
        if before is not None and elapsed > 0:
            cpu_delta = counters.cpu_ns - before.counters.cpu_ns
            cpu_percent = max(0.0, cpu_delta / (elapsed * 1e9) * 100.0)
            rx_per_s = max(0.0, (counters.rx - before.counters.rx) / elapsed)
            tx_per_s = max(0.0, (counters.tx - before.counters.tx) / elapsed)
        return container_stats(
            container,
            cpu_percent=cpu_percent,
            cpu_ns=counters.cpu_ns,
            memory=counters.memory,
            limit=counters.limit,
            rx=counters.rx,
            tx=counters.tx,
            rx_per_s=rx_per_s,
            tx_per_s=tx_per_s,
            block_read=counters.block_read,
            block_write=counters.block_write,
            pids=counters.pids,
        )
