"""One container's counters, read from its cgroup files and its network namespace.

The files are opened once and re-read with `pread` at offset 0 every cycle (the
kernel makes their text anew on each read): a quarter of the cost of opening them each
time. They are the same figures the engine's stats API gives (runc reads these files):

- CPU time: v1 `cpuacct.usage` (ns); v2 `cpu.stat` `usage_usec`;
- memory: v1 `memory.usage_in_bytes` less `memory.stat` `total_inactive_file`; v2
  `memory.current` less `memory.stat` `inactive_file`;
- limit: v1 `memory.limit_in_bytes`; v2 `memory.max`;
- block I/O: v1 `blkio.io_service_bytes_recursive` (or its `bfq.` or `throttle.` twin,
  the first with entries); v2 `io.stat` `rbytes` and `wbytes`;
- pids: `pids.current`.

A limit above the host's memory (none set) is the host's memory, as dockerd reports it.
Network bytes are the sums of `/proc/<pid>/net/dev` of the container's init process
(its network namespace), every interface but `lo`.
"""

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vigil_collector.docker.cgroups import ContainerCgroup
from vigil_collector.errors import ContainerGone

_CHUNK = 16_384
_BLOCK_IO_V1 = (  # runc's order: the first that has entries
    "blkio.io_service_bytes_recursive",
    "blkio.bfq.io_service_bytes_recursive",
    "blkio.throttle.io_service_bytes_recursive",
)
# Too many open files: that container's files are opened at each read instead.
_NO_MORE_FDS = (errno.EMFILE, errno.ENFILE)


@dataclass(frozen=True, slots=True)
class Counters:
    cpu_ns: int
    memory: int  # without the inactive file cache
    limit: int
    block_read: int
    block_write: int
    pids: int
    rx: int
    tx: int


_F = TypeVar("_F", bound="_File | None")


class _File:
    """A file read whole again and again; its descriptor is kept while there are some."""

    __slots__ = ("fd", "path")

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.fd: int | None
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno not in _NO_MORE_FDS:
                raise
            self.fd = None

    def read(self) -> bytes:
        if self.fd is None:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                return _read_all(fd)
            finally:
                os.close(fd)
        return _read_all(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _read_all(fd: int) -> bytes:
    data = os.pread(fd, _CHUNK, 0)
    while len(data) % _CHUNK == 0 and data:  # a long file (many interfaces): read on
        more = os.pread(fd, _CHUNK, len(data))
        if not more:
            break
        data += more
    return data


def _optional(path: Path) -> _File | None:
    """A file that this kernel or setup may not have (the figure is then 0)."""
    try:
        return _File(path)
    except FileNotFoundError:
        return None


class ContainerFiles:
    """The open files of one container. `read()` raises `ContainerGone` once its cgroup
    (or its process, for the network) is gone; `close()` when done with it."""

    def __init__(self, cgroup: ContainerCgroup, net_dev: Path | None, memory_total: int) -> None:
        self._v2 = cgroup.tree.version == 2
        self._memory_total = memory_total
        self._open: list[_File] = []
        try:
            if self._v2:
                self._cpu = self._keep(_File(cgroup.file("cpuacct", "cpu.stat")))
                self._usage = self._keep(_File(cgroup.file("memory", "memory.current")))
                self._limit = self._keep(_File(cgroup.file("memory", "memory.max")))
                self._blocks = [self._keep(_optional(cgroup.file("blkio", "io.stat")))]
            else:
                self._cpu = self._keep(_File(cgroup.file("cpuacct", "cpuacct.usage")))
                self._usage = self._keep(_File(cgroup.file("memory", "memory.usage_in_bytes")))
                self._limit = self._keep(_File(cgroup.file("memory", "memory.limit_in_bytes")))
                self._blocks = [
                    self._keep(_optional(cgroup.file("blkio", n))) for n in _BLOCK_IO_V1
                ]
            self._memory_stat = self._keep(_File(cgroup.file("memory", "memory.stat")))
            self._pids = self._keep(_optional(cgroup.file("pids", "pids.current")))
            self._net = self._keep(_File(net_dev)) if net_dev is not None else None
        except OSError as exc:
            self.close()
            raise ContainerGone(str(exc)) from exc

    def _keep(self, file: _F) -> _F:
        if file is not None:
            self._open.append(file)
        return file

    def read(self) -> Counters:
        try:
            if self._v2:
                cpu_ns = _field(self._cpu.read(), b"usage_usec") * 1000
                inactive = _field(self._memory_stat.read(), b"inactive_file")
            else:
                cpu_ns = int(self._cpu.read())
                inactive = _field(self._memory_stat.read(), b"total_inactive_file")
            usage = int(self._usage.read())
            limit = self._limit.read().strip()
            read, write = self._block_io()
            pids = int(self._pids.read()) if self._pids is not None else 0
            rx, tx = net_dev_bytes(self._net.read()) if self._net is not None else (0, 0)
        except (OSError, ValueError) as exc:  # removed under us: ENODEV, ESRCH, or empty
            raise ContainerGone(str(exc)) from exc
        total = self._memory_total
        limit_bytes = total if limit == b"max" else int(limit)
        return Counters(
            cpu_ns=cpu_ns,
            memory=usage - inactive if 0 < inactive < usage else usage,
            limit=min(limit_bytes, total) if total else limit_bytes,
            block_read=read,
            block_write=write,
            pids=pids,
            rx=rx,
            tx=tx,
        )

    def _block_io(self) -> tuple[int, int]:
        for file in self._blocks:
            if file is None:
                continue
            text = file.read()
            if self._v2:
                return io_stat_bytes(text)
            figures = blkio_bytes(text)
            if figures is not None:
                return figures
        return 0, 0

    def close(self) -> None:
        for file in self._open:
            file.close()
        self._open.clear()


def _field(text: bytes, key: bytes) -> int:
    """The value of `key` in a flat keyed file (`memory.stat`, `cpu.stat`); 0 if absent."""
    at = text.find(b"\n" + key + b" ")
    if at < 0:
        if not text.startswith(key + b" "):
            return 0
        at = -1
    start = at + len(key) + 2
    end = text.find(b"\n", start)
    return int(text[start : end if end >= 0 else None])


def blkio_bytes(text: bytes) -> tuple[int, int] | None:
    """Read and write bytes summed over devices, from v1 `8:0 Read 4096` lines; None
    when the file has no device lines (only `Total 0`: this one is not in use)."""
    read = write = 0
    found = False
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        found = True
        if parts[1] == b"Read":
            read += int(parts[2])
        elif parts[1] == b"Write":
            write += int(parts[2])
    return (read, write) if found else None


def io_stat_bytes(text: bytes) -> tuple[int, int]:
    """Read and write bytes summed over devices, from v2 `8:0 rbytes=1 wbytes=2 ...` lines."""
    read = write = 0
    for line in text.splitlines():
        for pair in line.split()[1:]:
            key, _, value = pair.partition(b"=")
            if key == b"rbytes":
                read += int(value)
            elif key == b"wbytes":
                write += int(value)
    return read, write


def net_dev_bytes(text: bytes) -> tuple[int, int]:
    """Received and sent bytes of every interface but `lo`, from `/proc/<pid>/net/dev`."""
    rx = tx = 0
    for line in text.splitlines()[2:]:  # two lines of headers
        name, _, figures = line.partition(b":")
        if name.strip() == b"lo":
            continue
        fields = figures.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx
