"""A host's busiest processes at each sample: the culprits a host alert names beside
the containers (a process outside any container, or a container's without Docker).

Read from `/proc/<pid>/stat` under `proc_root` (one read per process: its name, CPU
ticks, start time and resident pages), so the collector in a container, given the host's
`/proc` read-only (`compose.yaml`), sees the host's processes; with its own `/proc` it
sees only its own namespace's. CPU is the ticks since the previous sample over the time
between them; a process first seen counts from its next sample.
"""

import os
import time
from pathlib import Path
from typing import NamedTuple

from vigil.messages import ProcessUsage

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class _Seen(NamedTuple):
    started: int  # ticks after boot: a pid reused by another process starts later
    ticks: int


class _Read(NamedTuple):
    pid: int
    name: str
    started: int
    ticks: int
    rss: int


class TopProcesses:
    def __init__(self, proc_root: Path, count: int) -> None:
        self._proc = proc_root
        self._count = count
        self._seen: dict[int, _Seen] = {}
        self._at = time.monotonic()

    def read(self) -> list[ProcessUsage]:
        """The `count` busiest by CPU and the `count` largest by memory (one list, busiest
        first; a process in both once)."""
        now = time.monotonic()
        elapsed, self._at = now - self._at, now
        read = _every_process(self._proc)
        seen = self._seen
        self._seen = {p.pid: _Seen(p.started, p.ticks) for p in read}

        def cpu_percent(p: _Read) -> float:
            before = seen.get(p.pid)
            if before is None or before.started != p.started or elapsed <= 0:
                return 0.0
            return max(0.0, (p.ticks - before.ticks) / _TICKS_PER_S / elapsed * 100)

        figures = [(cpu_percent(p), p) for p in read]
        busiest = sorted(figures, key=lambda f: f[0], reverse=True)[: self._count]
        largest = sorted(figures, key=lambda f: f[1].rss, reverse=True)[: self._count]
        named: dict[int, ProcessUsage] = {}
        for cpu, p in busiest + largest:
            if p.pid not in named:
                named[p.pid] = ProcessUsage(
                    pid=p.pid,
                    name=p.name,
                    cpu_percent=round(cpu, 1),
                    memory_bytes=p.rss * _PAGE_BYTES,
                )
        return list(named.values())


def _every_process(proc: Path) -> list[_Read]:
    found = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat", "rb") as stat:
                line = stat.read()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        # `pid (name) state ...`: a name may hold spaces and parentheses, so the fields
        # are counted from the last ')' (field 3, the state, is fields[0])
        opened, closed = line.find(b"("), line.rfind(b")")
        fields = line[closed + 2 :].split() if 0 <= opened < closed else []
        if len(fields) < 22:
            continue
        found.append(
            _Read(
                pid=int(entry.name),
                name=line[opened + 1 : closed].decode(errors="replace"),
                started=int(fields[19]),  # field 22, starttime
                ticks=int(fields[11]) + int(fields[12]),  # fields 14 and 15, utime + stime
                rss=int(fields[21]),  # field 24, in pages
            )
        )
    return found
