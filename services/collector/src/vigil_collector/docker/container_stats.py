"""Stats of every running container from the engine's stats API, as `docker stats` computes them.

The reader for an engine whose cgroups this collector cannot read (a remote engine;
`cgroup_stats` is the one for the engine of this host). One cycle asks the engine for
one sample of each running container (`running_containers`: kept by events, not
listed) with `one_shot` (API 1.41+), all at once from a thread pool. The engine answers every
such request at its next stats collection (it collects once a second), so a cycle
takes about one second however many containers there are (up to the pool's size),
not the ~2 s per container that a sequential `stats(stream=False)` loop waits
(moby#23188). CPU % and network
rates come from the deltas between this collector's own consecutive samples: CPU %
is the container's CPU time over the host's in the same span, times the online CPUs
(100 = one CPU busy), as `docker stats` does. Memory is usage minus the inactive page
cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`), as the docker CLI shows.
"""

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import requests.exceptions

from vigil.messages import ContainerStats, DockerStatsSampled
from vigil_collector.docker.engine import UNREACHABLE, describe, is_missing
from vigil_collector.docker.running_containers import RunningContainer
from vigil_collector.docker.stats_batch import container_stats, stats_batch
from vigil_collector.errors import DockerUnavailable


@dataclass(frozen=True)
class _Counters:
    at: float
    cpu_total: int
    system_total: int
    rx: int
    tx: int


def memory_without_cache(memory: Mapping[str, Any]) -> int:
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):  # cgroup v1, then v2
        if key in stats and int(stats[key]) < usage:
            return usage - int(stats[key])
    return usage


def _block_io(blkio: Mapping[str, Any] | None) -> tuple[int, int]:
    read = write = 0
    for entry in (blkio or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    return read, write


def _online_cpus(cpu: Mapping[str, Any]) -> int:
    online = cpu.get("online_cpus")
    if online:
        return int(online)
    per_cpu = (cpu.get("cpu_usage") or {}).get("percpu_usage") or []
    return len(per_cpu) or os.cpu_count() or 1


class ApiStats:
    """Samples one engine through its API; `sample()` blocks, so it runs in a thread."""

    kind: Literal["api"] = "api"

    def __init__(self, api: Any, host: str, workers: int) -> None:
        self._api = api
        self._host = host
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vigil-docker-stats")
        self._previous: dict[str, _Counters] = {}
        self._last_cycle: float | None = None

    def sample(self, running: Sequence[RunningContainer]) -> DockerStatsSampled:
        started = time.monotonic()
        raws = list(self._pool.map(self._one, running))
        seen: dict[str, _Counters] = {}
        containers = []
        for container, raw in zip(running, raws, strict=True):
            if raw is None:  # stopped before its stats
                continue
            stats, counters = self._figures(container, raw)
            seen[container.id] = counters
            containers.append(stats)
        self._previous = seen  # containers that stopped are forgotten
        interval = 0.0 if self._last_cycle is None else started - self._last_cycle
        self._last_cycle = started
        return stats_batch(self._host, interval, containers)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _one(self, container: RunningContainer) -> dict[str, Any] | None:
        try:
            raw: dict[str, Any] = self._api.stats(container.id, stream=False, one_shot=True)
        except (ValueError, requests.exceptions.ReadTimeout):
            # An empty answer (the container stopped meanwhile) or a slow one: this
            # container sits out the cycle; the engine as a whole still answers.
            return None
        except UNREACHABLE as exc:
            if is_missing(exc):
                return None
            raise DockerUnavailable(describe(exc)) from exc
        raw["_at"] = time.monotonic()
        return raw

    def _figures(
        self, container: RunningContainer, raw: Mapping[str, Any]
    ) -> tuple[ContainerStats, _Counters]:
        cpu = raw.get("cpu_stats") or {}
        memory = raw.get("memory_stats") or {}
        networks = (raw.get("networks") or {}).values()
        counters = _Counters(
            at=float(raw["_at"]),
            cpu_total=int((cpu.get("cpu_usage") or {}).get("total_usage") or 0),
            system_total=int(cpu.get("system_cpu_usage") or 0),
            rx=sum(int(n.get("rx_bytes") or 0) for n in networks),
            tx=sum(int(n.get("tx_bytes") or 0) for n in networks),
        )
        before = self._previous.get(container.id)
        cpu_percent = rx_rate = tx_rate = 0.0
        if before is not None:
            cpu_delta = counters.cpu_total - before.cpu_total
            system_delta = counters.system_total - before.system_total
            if cpu_delta > 0 and system_delta > 0:
                cpu_percent = cpu_delta / system_delta * _online_cpus(cpu) * 100.0
            elapsed = counters.at - before.at
            if elapsed > 0:
                rx_rate = max(0.0, (counters.rx - before.rx) / elapsed)
                tx_rate = max(0.0, (counters.tx - before.tx) / elapsed)
        read, write = _block_io(raw.get("blkio_stats"))
        stats = container_stats(
            container,
            cpu_percent=cpu_percent,
            cpu_ns=counters.cpu_total,  # nanoseconds on cgroup v1 and v2 alike
            memory=memory_without_cache(memory),
            limit=int(memory.get("limit") or 0),
            rx=counters.rx,
            tx=counters.tx,
            rx_per_s=rx_rate,
            tx_per_s=tx_rate,
            block_read=read,
            block_write=write,
            pids=int((raw.get("pids_stats") or {}).get("current") or 0),
        )
        return stats, counters
