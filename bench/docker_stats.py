"""What a host pays for Vigil's container stats: the cgroup reader, the `one_shot` API
path and a bare cgroup-read loop (the floor), in one run against the same engine.

Starts idle busybox containers (`sleep`, the tests' local image, labelled
`vigil.bench=<run>`) up to each `--containers` count and, for each count and each
`--intervals` value, runs for `--seconds`:

- `cgroup`: the real collector (`python -m vigil_collector`, publishing to a private
  nats-server) with `docker_stats_reader=cgroup`; its host metrics at the same interval;
- `one_shot`: the same collector with `docker_stats_reader=api` (a `one_shot` stats
  request per container per cycle from a thread pool);
- `bare`: a process that only reads, every interval, each container's cgroup files and
  `/proc/<pid>/net/dev`, opening each file every time and parsing the figures, as a
  40-line script would: the cost of the data itself.

Per mode: the process's CPU (all its threads, ns resolution), the engine's CPU
(dockerd, containerd and every containerd-shim), both as % of one core over the wall
time, their sum, the process's CPU over the bare loop's, and its peak RSS. Then, in this
process, one cycle of the cgroup reader against the bare loop's two ways of reading
(opening each file, or re-reading files kept open as the reader does). The containers
are removed at the end, whatever happens. Run it on a quiet machine: other work on
the engine (or the CPU) shows in its figures.

    uv run --all-packages python bench/docker_stats.py [--containers 100 500]
        [--intervals 2 1] [--seconds 30]
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cgroup_floor
import nats
import psutil
from collector_cpu import cpu_seconds, free_port
from fanout_processes import provision_when_up

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.docker_engine import busybox_image
from vigil.settings import VigilSettings
from vigil_collector.docker import engine
from vigil_collector.docker.cgroup_stats import CgroupStats
from vigil_collector.docker.cgroups import CgroupTree
from vigil_collector.docker.running_containers import RunningContainer, RunningContainers
from vigil_collector.host.sampler import HostSampler

PREFIX = "bench"
HOST = "bench"


@dataclass
class Row:
    containers: int
    interval: float
    mode: str
    wall: float
    own_cpu: float
    engine_cpu: float
    rss_mb: float

    def percent(self, seconds: float) -> float:
        return 100.0 * seconds / self.wall


def engine_processes() -> list[psutil.Process]:
    """dockerd, containerd and the shims of the containers running now."""
    return [
        p
        for p in psutil.process_iter(["name"])
        if p.info["name"] in {"dockerd", "containerd"}
        or (p.info["name"] or "").startswith("containerd-shim")
    ]


def engine_cpu_s(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(image: str, label: str, count: int) -> None:
    def one(_: int) -> None:
        subprocess.run(
            ["docker", "run", "-d", "--label", f"vigil.bench={label}", image, "sleep", "86400"],
            check=True,
            capture_output=True,
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def remove(label: str) -> None:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=vigil.bench={label}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for chunk in range(0, len(ids), 50):
        subprocess.run(["docker", "rm", "-f", *ids[chunk : chunk + 50]], capture_output=True)


def running_now() -> list[RunningContainer]:
    api, _ = engine.connect(None, 60)
    try:
        known = RunningContainers()
        return known.fill(api, api.containers(all=True))
    finally:
        api.close()


def bare_files(tree: CgroupTree, running: list[RunningContainer]) -> list[dict[str, str]]:
    """The files the bare loop reads, per container (cgroup v1, as on this machine)."""
    found = []
    for container in running:
        own = Path(f"/proc/{container.pid}/cgroup").read_text()
        cgroup = tree.place(container.id, own)
        if cgroup is None:
            continue
        blkio = "blkio.throttle.io_service_bytes_recursive"
        if (cgroup.file("blkio", "blkio.io_service_bytes_recursive")).exists():
            blkio = "blkio.io_service_bytes_recursive"
        found.append(
            {
                "cpu": str(cgroup.file("cpuacct", "cpuacct.usage")),
                "usage": str(cgroup.file("memory", "memory.usage_in_bytes")),
                "stat": str(cgroup.file("memory", "memory.stat")),
                "limit": str(cgroup.file("memory", "memory.limit_in_bytes")),
                "blkio": str(cgroup.file("blkio", blkio)),
                "pids": str(cgroup.file("pids", "pids.current")),
                "net": f"/proc/{container.pid}/net/dev",
            }
        )
    return found


@contextmanager
def nats_server() -> Iterator[str]:
    nats_bin = Path(sys.executable).parent / "nats-server"
    port = free_port()
    store = tempfile.mkdtemp(prefix="vigil-bench-")
    server = subprocess.Popen(
        [str(nats_bin), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    try:
        asyncio.run(provision_when_up(VigilSettings(nats_url=url, subject_prefix=PREFIX)))
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(store, ignore_errors=True)


async def batch_with(url: str, count: int, timeout_s: float) -> None:
    """Until the collector publishes a batch with at least `count` containers."""
    subject = VigilSettings(subject_prefix=PREFIX).subjects.docker_metrics(HOST)
    client = await nats.connect(url)
    try:
        subscription = await client.subscribe(subject)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = await subscription.next_msg(timeout=left)
            if len(json.loads(message.data)["containers"]) >= count:
                return
        raise TimeoutError(f"no batch of {count} containers in {timeout_s} s")
    finally:
        await client.close()


def measured(
    process: subprocess.Popen[bytes], seconds: float, mode: str, count: int, interval: float
) -> Row:
    engine_side = engine_processes()
    watched = psutil.Process(process.pid)
    own, eng, wall = cpu_seconds(watched), engine_cpu_s(engine_side), time.monotonic()
    time.sleep(seconds)
    assert process.poll() is None, f"the {mode} process ended"
    return Row(
        containers=count,
        interval=interval,
        mode=mode,
        wall=time.monotonic() - wall,
        own_cpu=cpu_seconds(watched) - own,
        engine_cpu=engine_cpu_s(engine_side) - eng,
        rss_mb=peak_rss_mb(process.pid),
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def collector_row(
    url: str, reader: str, ours: int, count: int, interval: float, seconds: float
) -> Row:
    env = os.environ | {
        "VIGIL_NATS_URL": url,
        "VIGIL_SUBJECT_PREFIX": PREFIX,
        "VIGIL_COLLECTOR_HOST": HOST,
        "VIGIL_COLLECTOR_INTERVAL_S": str(interval),
        "VIGIL_COLLECTOR_DOCKER": "on",
        "VIGIL_COLLECTOR_DOCKER_INTERVAL_S": str(interval),
        "VIGIL_COLLECTOR_DOCKER_STATS_READER": reader,
    }
    collector = subprocess.Popen(
        [sys.executable, "-m", "vigil_collector"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        # past imports, the snapshot and a first full batch: the steady state
        asyncio.run(batch_with(url, ours, 60 + count / 10))
        return measured(
            collector, seconds, "cgroup" if reader == "cgroup" else "one_shot", count, interval
        )
    finally:
        stop(collector)


def bare_row(files: list[dict[str, str]], count: int, interval: float, seconds: float) -> Row:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as listing:
        json.dump(files, listing)
        listing.flush()
        floor = Path(__file__).with_name("cgroup_floor.py")
        loop = subprocess.Popen([sys.executable, str(floor), str(interval), listing.name])
        try:
            time.sleep(1.0)  # past its imports
            return measured(loop, seconds, "bare", count, interval)
        finally:
            stop(loop)


def per_cycle(work: Callable[[], object], cycles: int = 20) -> float:
    """CPU ms of this thread per call of `work`."""
    work()  # opened, primed
    started = time.thread_time()
    for _ in range(cycles):
        work()
    return (time.thread_time() - started) / cycles * 1000


def in_process(
    tree: CgroupTree, running: list[RunningContainer], files: list[dict[str, str]]
) -> tuple[float, float, float, float]:
    """One cycle, ms of CPU: the cgroup reader; the bare loop opening each file; the
    bare loop re-reading files it keeps open (what the reader does); a host metrics
    sample (the host's mount table and interfaces grow with the containers)."""
    reader = CgroupStats(tree, Path("/proc"), HOST)
    host = HostSampler(HOST)
    kept = [[os.open(path, os.O_RDONLY) for path in container.values()] for container in files]

    def bare_kept() -> None:
        for fds in kept:
            for fd in fds:
                os.pread(fd, 16384, 0)

    try:
        return (
            per_cycle(lambda: reader.sample(running)),
            per_cycle(lambda: cgroup_floor.cycle(files)),
            per_cycle(bare_kept),
            per_cycle(host.sample),
        )
    finally:
        host.close()
        reader.close()
        for fds in kept:
            for fd in fds:
                os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--intervals", type=float, nargs="+", default=[2.0, 1.0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured, per mode")
    args = parser.parse_args()

    tree = CgroupTree.at(Path("/sys/fs/cgroup"))
    assert tree is not None, "the bench reads this host's cgroups: run it on the host"
    assert tree.version == 1, "the bare loop reads cgroup v1 files (this machine's)"
    image = busybox_image()
    label = uuid.uuid4().hex[:8]
    rows: list[Row] = []
    cycles: list[tuple[int, int, tuple[float, float, float, float]]] = []
    version = "?"
    try:
        with nats_server() as url:
            started = 0
            for count in sorted(args.containers):
                start(image, label, count - started)
                started = count
                running = running_now()
                files = bare_files(tree, running)
                cycles.append((count, len(running), in_process(tree, running, files)))
                for interval in args.intervals:
                    for reader in ("cgroup", "api"):
                        rows.append(
                            collector_row(url, reader, count, len(running), interval, args.seconds)
                        )
                    rows.append(bare_row(files, len(running), interval, args.seconds))
        api, version = engine.connect(None, 10)
        api.close()
    finally:
        remove(label)

    cores = psutil.cpu_count()
    print(
        f"Docker engine {version}, cgroup v{tree.version}, {cores} cores;"
        f" {args.seconds:g} s per mode"
    )
    print("% = CPU time over wall time, of one core; process: every thread of it (the")
    print("collector: host metrics at the same interval too, publishing to NATS); engine:")
    print("dockerd, containerd and the shims; caused: the engine's beyond what it spent")
    print("beside the bare loop (its idle self); total: process + caused; x bare: the")
    print("process's CPU over the bare loop's.")
    header = (
        f"{'running':>7} {'every':>5} {'mode':<9} | {'process %':>9} {'engine %':>8}"
        f" {'caused %':>8} {'total %':>8} | {'x bare':>6} {'peak RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        bare = next(
            r
            for r in rows
            if (r.containers, r.interval, r.mode) == (row.containers, row.interval, "bare")
        )
        ratio = row.own_cpu / bare.own_cpu if bare.own_cpu else float("inf")
        # What the engine spent beyond its idle self (the bare loop asks it nothing).
        caused = max(0.0, row.percent(row.engine_cpu) - bare.percent(bare.engine_cpu))
        print(
            f"{row.containers:>7} {row.interval:>4g}s {row.mode:<9} |"
            f" {row.percent(row.own_cpu):>9.2f} {row.percent(row.engine_cpu):>8.2f}"
            f" {caused:>8.2f} {row.percent(row.own_cpu) + caused:>8.2f} | {ratio:>5.2f}x"
            f" {row.rss_mb:>11.1f}"
        )
    print()
    print("One cycle in this process, CPU ms: the cgroup reader (publishable batch) against")
    print("the bare loop opening every file, and re-reading files kept open (no parsing);")
    print("and one host metrics sample (psutil)")
    print(
        f"{'running':>7} | {'reader':>7} {'bare open':>9} {'bare kept':>9} |"
        f" {'x bare open':>11} | {'host sample':>11}"
    )
    for _, running_count, (reader_ms, bare_ms, kept_ms, host_ms) in cycles:
        print(
            f"{running_count:>7} | {reader_ms:>7.2f} {bare_ms:>9.2f} {kept_ms:>9.2f} |"
            f" {reader_ms / bare_ms:>10.2f}x | {host_ms:>11.2f}"
        )


if __name__ == "__main__":
    main()
