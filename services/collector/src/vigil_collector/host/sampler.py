"""One machine's metrics from psutil.

`HostSampler.sample()` blocks (psutil reads /proc), so the service calls it in a
worker thread. Counters (disk and network I/O) become rates over the time since the
previous sample; the first sample reports zero rates. The list of filesystems is read
again only when the mount table changes (the kernel flags `/proc/self/mounts` to
`poll`): on a host with hundreds of containers it holds thousands of lines.
"""

import os
import select
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psutil

from vigil.messages import (
    CpuUsage,
    DiskIoRates,
    FilesystemUsage,
    HostMetricsSampled,
    LoadAverage,
    MemoryUsage,
    NetworkRates,
    SwapUsage,
    utc_now,
)
from vigil_collector.host.processes import TopProcesses

# Pseudo and read-only image filesystems say nothing about free space.
_IGNORED_FSTYPES = frozenset({"squashfs", "iso9660", "overlay", "tmpfs", "devtmpfs", "nsfs"})


class _Counters(NamedTuple):
    at: float
    read_bytes: int
    write_bytes: int
    read_ops: int
    write_ops: int
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int


class _Partition(NamedTuple):
    mountpoint: str
    device: str
    fstype: str


class _Partitions:
    """The filesystems worth reporting, read again when the mount table changes."""

    def __init__(self) -> None:
        self._mounts = open("/proc/self/mounts", "rb")  # noqa: SIM115 (held: polled)
        self._poll = select.poll()
        self._poll.register(self._mounts, select.POLLPRI | select.POLLERR)
        self._poll.poll(0)  # what it says now is read below
        self._known = _partitions()

    def now(self) -> list[_Partition]:
        if self._poll.poll(0):  # mounted or unmounted since
            self._known = _partitions()
        return self._known

    def close(self) -> None:
        self._mounts.close()


def _partitions() -> list[_Partition]:
    found = {}
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _IGNORED_FSTYPES or part.mountpoint in found:
            continue
        if not os.path.isdir(part.mountpoint):  # bind-mounted files in containers
            continue
        found[part.mountpoint] = _Partition(part.mountpoint, part.device, part.fstype)
    return list(found.values())


@dataclass
class HostSampler:
    host: str
    proc_root: Path = Path("/proc")
    top_processes: int = 0
    """The busiest processes by CPU and the largest by memory in each sample (0: none)."""
    _previous: _Counters | None = None
    _partitions: _Partitions = field(init=False)
    _processes: TopProcesses | None = field(init=False)

    def __post_init__(self) -> None:
        self._partitions = _Partitions()
        self._processes = None
        if self.top_processes:
            self._processes = TopProcesses(self.proc_root, self.top_processes)
            self._processes.read()  # CPU is counted from here
        # psutil's CPU percentages compare with the previous call: prime them.
        psutil.cpu_percent()
        psutil.cpu_percent(percpu=True)
        self._previous = self._counters()

    def sample(self) -> HostMetricsSampled:
        counters = self._counters()
        previous = self._previous or counters
        self._previous = counters
        elapsed = counters.at - previous.at

        def rate(now: int, before: int) -> float:
            return max(0.0, (now - before) / elapsed) if elapsed > 0 else 0.0

        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        load = os.getloadavg()
        return HostMetricsSampled(
            host=self.host,
            time=utc_now(),
            interval_s=round(elapsed, 3),
            cpu=CpuUsage(percent=psutil.cpu_percent(), per_core=psutil.cpu_percent(percpu=True)),
            load=LoadAverage(one=load[0], five=load[1], fifteen=load[2]),
            memory=MemoryUsage(
                total=memory.total,
                available=memory.available,
                used=memory.total - memory.available,
                percent=memory.percent,
            ),
            swap=SwapUsage(total=swap.total, used=swap.used, percent=swap.percent),
            filesystems=_filesystems(self._partitions.now()),
            disk_io=DiskIoRates(
                read_bytes_per_s=rate(counters.read_bytes, previous.read_bytes),
                write_bytes_per_s=rate(counters.write_bytes, previous.write_bytes),
                read_ops_per_s=rate(counters.read_ops, previous.read_ops),
                write_ops_per_s=rate(counters.write_ops, previous.write_ops),
            ),
            network=NetworkRates(
                rx_bytes_per_s=rate(counters.rx_bytes, previous.rx_bytes),
                tx_bytes_per_s=rate(counters.tx_bytes, previous.tx_bytes),
                rx_packets_per_s=rate(counters.rx_packets, previous.rx_packets),
                tx_packets_per_s=rate(counters.tx_packets, previous.tx_packets),
                rx_bytes_total=counters.rx_bytes,
                tx_bytes_total=counters.tx_bytes,
            ),
            uptime_s=round(time.time() - psutil.boot_time(), 1),
            processes=self._processes.read() if self._processes is not None else None,
        )

    def close(self) -> None:
        self._partitions.close()

    @staticmethod
    def _counters() -> _Counters:
        disk = psutil.disk_io_counters()
        net = psutil.net_io_counters()
        return _Counters(
            at=time.monotonic(),
            read_bytes=disk.read_bytes if disk else 0,
            write_bytes=disk.write_bytes if disk else 0,
            read_ops=disk.read_count if disk else 0,
            write_ops=disk.write_count if disk else 0,
            rx_bytes=net.bytes_recv,
            tx_bytes=net.bytes_sent,
            rx_packets=net.packets_recv,
            tx_packets=net.packets_sent,
        )


def _filesystems(partitions: list[_Partition]) -> list[FilesystemUsage]:
    usages = []
    for part in partitions:
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:  # gone, or not ours to read: skip it this cycle
            continue
        usages.append(
            FilesystemUsage(
                mountpoint=part.mountpoint,
                device=part.device,
                fstype=part.fstype,
                total=usage.total,
                used=usage.used,
                free=usage.free,
                percent=usage.percent,
            )
        )
    return sorted(usages, key=lambda fs: fs.mountpoint)
