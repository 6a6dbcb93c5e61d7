"""Cgroup trees and /proc laid out as the kernel lays them out, in real files of a tmp
folder: how the reader's v2, systemd and rootless paths are tested on a machine whose
engine runs cgroup v1 with cgroupfs (only a kernel booted with v2 can make a real one).

Each `Layout` names where a container's cgroup is, relative to the tree's root (v2) or
to each controller's hierarchy (v1), and what its init's `/proc/<pid>/cgroup` says.
"""

from dataclasses import dataclass
from pathlib import Path

MEMORY_TOTAL = 8 * 1024**3  # the fake host's MemTotal

NET_DEV = (  # as the kernel prints it (the columns are padded)
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs"
    " drop fifo colls carrier compressed\n"
    "    lo:  {lo}    1329    0    0    0     0          0         0   {lo}    1329    0    0"
    "    0     0       0          0\n"
    "  eth0: {rx0}    1510    0    0    0     0          0         0   {tx0}    1335    0    0"
    "    0     0       0          0\n"
    "  eth1:    {rx1}      14    0    0    0     0          0         0        0       0    0"
    "    0    0     0       0          0\n"
)


@dataclass(frozen=True)
class Layout:
    name: str
    version: int
    place: str  # the container's folder, relative to the root (or each v1 hierarchy)
    proc_line: str  # its init's path in /proc/<pid>/cgroup
    shared_cpu: bool = False  # v1: `cpu,cpuacct` co-mounted (systemd hosts), with links


CID = "4f1e" + "a" * 60

LAYOUTS = [
    Layout("v1-cgroupfs", 1, f"docker/{CID}", f"/docker/{CID}"),
    Layout(
        "v1-systemd",
        1,
        f"system.slice/docker-{CID}.scope",
        f"/system.slice/docker-{CID}.scope",
        shared_cpu=True,
    ),
    Layout("v2-cgroupfs", 2, f"docker/{CID}", f"/docker/{CID}"),
    Layout(
        "v2-systemd", 2, f"system.slice/docker-{CID}.scope", f"/system.slice/docker-{CID}.scope"
    ),
    Layout(
        "v2-rootless-systemd",
        2,
        f"user.slice/user-1000.slice/user@1000.service/user.slice/docker-{CID}.scope",
        f"/user.slice/user-1000.slice/user@1000.service/user.slice/docker-{CID}.scope",
    ),
    # The collector in a private cgroup namespace: its view of others' paths starts with
    # `/..`; the driver's usual place is found instead.
    Layout(
        "v2-private-namespace", 2, f"system.slice/docker-{CID}.scope", f"/../docker-{CID}.scope"
    ),
    Layout("v1-private-namespace", 1, f"docker/{CID}", f"/../{CID}"),
]


@dataclass
class Figures:
    cpu_ns: int = 5_000_000_000
    usage: int = 50 * 1024**2
    inactive_file: int = 10 * 1024**2
    limit: int | None = None  # None: no limit
    read: int = 4096
    write: int = 8192
    pids: int = 3
    rx: tuple[int, int] = (1000, 24)
    tx: int = 500
    lo: int = 777_777


class FakeHost:
    """A cgroup tree at `root/cgroup` and a /proc at `root/proc` with one container."""

    def __init__(self, base: Path, layout: Layout, pid: int = 4242) -> None:
        self.layout = layout
        self.cgroup_root = base / "cgroup"
        self.proc_root = base / "proc"
        self.pid = pid
        self.cgroup_root.mkdir()
        (self.proc_root / str(pid) / "net").mkdir(parents=True)
        (self.proc_root / "meminfo").write_text(
            f"MemTotal:       {MEMORY_TOTAL // 1024} kB\nMemFree:        1000 kB\n"
        )
        if layout.version == 2:
            self._write(self.cgroup_root / "cgroup.controllers", "cpuset cpu io memory pids\n")
            self._write(self.cgroup_root / "cgroup.procs", "1\n")
            (self.cgroup_root / layout.place).mkdir(parents=True)
            lines = [f"0::{layout.proc_line}"]
        else:
            for hierarchy in ("cpu,cpuacct" if layout.shared_cpu else "cpuacct", "memory"):
                (self.cgroup_root / hierarchy).mkdir()
            for hierarchy in ("blkio", "pids", "devices"):
                (self.cgroup_root / hierarchy).mkdir()
            if layout.shared_cpu:
                (self.cgroup_root / "cpu").symlink_to("cpu,cpuacct")
                (self.cgroup_root / "cpuacct").symlink_to("cpu,cpuacct")
            for hierarchy in ("cpuacct", "memory", "blkio", "pids"):
                self._write(self.cgroup_root / hierarchy / "cgroup.procs", "1\n")
                (self.cgroup_root / hierarchy / layout.place).mkdir(parents=True)
            cpu = "cpu,cpuacct" if layout.shared_cpu else "cpuacct"
            lines = [
                f"9:name=systemd:{layout.proc_line}",
                f"8:pids:{layout.proc_line}",
                f"7:blkio:{layout.proc_line}",
                f"4:memory:{layout.proc_line}",
                f"2:{cpu}:{layout.proc_line}",
                f"0::{layout.proc_line}",  # a hybrid host's empty v2 hierarchy
            ]
        self._write(self.proc_root / str(pid) / "cgroup", "\n".join(lines) + "\n")
        self.set(Figures())

    def folder(self, controller: str) -> Path:
        if self.layout.version == 2:
            return self.cgroup_root / self.layout.place
        return self.cgroup_root / controller / self.layout.place

    def set(self, f: Figures) -> None:
        """Write the container's files as the kernel shows these figures."""
        self._write(self.folder("cgroup") / "cgroup.procs", f"{self.pid}\n")
        if self.layout.version == 2:
            folder = self.folder("")
            self._write(
                folder / "cpu.stat",
                f"usage_usec {f.cpu_ns // 1000}\nuser_usec 1\nsystem_usec 2\nnr_periods 0\n",
            )
            self._write(folder / "memory.current", f"{f.usage}\n")
            self._write(folder / "memory.max", "max\n" if f.limit is None else f"{f.limit}\n")
            self._write(
                folder / "memory.stat",
                f"anon 100\nfile 200\nactive_file 5\ninactive_file {f.inactive_file}\nslab 7\n",
            )
            self._write(
                folder / "io.stat",
                f"8:0 rbytes={f.read - 96} wbytes={f.write} rios=1 wios=2 dbytes=0 dios=0\n"
                "253:0 rbytes=96 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
            )
            self._write(folder / "pids.current", f"{f.pids}\n")
        else:
            for controller in ("cpuacct", "memory", "blkio", "pids"):
                self._write(self.folder(controller) / "cgroup.procs", f"{self.pid}\n")
            self._write(self.folder("cpuacct") / "cpuacct.usage", f"{f.cpu_ns}\n")
            memory = self.folder("memory")
            self._write(memory / "memory.usage_in_bytes", f"{f.usage}\n")
            limit = 9223372036854771712 if f.limit is None else f.limit
            self._write(memory / "memory.limit_in_bytes", f"{limit}\n")
            self._write(
                memory / "memory.stat",
                "cache 2154496\nrss 53989376\ninactive_file 1\nactive_file 2\n"
                f"hierarchical_memory_limit {limit}\ntotal_cache 3\n"
                f"total_inactive_file {f.inactive_file}\ntotal_active_file 4\n",
            )
            blkio = self.folder("blkio")
            self._write(blkio / "blkio.io_service_bytes_recursive", "Total 0\n")  # no CFQ
            self._write(
                blkio / "blkio.throttle.io_service_bytes_recursive",
                f"8:0 Read {f.read}\n8:0 Write {f.write}\n8:0 Sync 0\n8:0 Async 0\n"
                f"8:0 Discard 0\n8:0 Total {f.read + f.write}\nTotal {f.read + f.write}\n",
            )
            self._write(self.folder("pids") / "pids.current", f"{f.pids}\n")
        self._write(
            self.proc_root / str(self.pid) / "net" / "dev",
            NET_DEV.format(lo=f.lo, rx0=f.rx[0], rx1=f.rx[1], tx0=f.tx),
        )

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
