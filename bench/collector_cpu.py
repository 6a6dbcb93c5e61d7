"""CPU cost of the collector at its interval, against a bare psutil loop in the same run.

Starts a private nats-server, then two child processes side by side for the same wall
time: the real collector (`python -m vigil_collector`, publishing to JetStream) and a
baseline that makes the same psutil calls at the same interval and does nothing else.
Prints each one's CPU use and the ratio.

    uv run python bench/collector_cpu.py [--seconds 60] [--interval 2]
"""

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from fanout_processes import provision_when_up

from vigil.settings import VigilSettings

BASELINE = """
import os, sys, time, psutil
interval = float(sys.argv[1])
psutil.cpu_percent(); psutil.cpu_percent(percpu=True)
while True:
    time.sleep(interval)
    psutil.cpu_percent(); psutil.cpu_percent(percpu=True); os.getloadavg()
    psutil.virtual_memory(); psutil.swap_memory(); psutil.disk_io_counters()
    psutil.net_io_counters(); psutil.boot_time()
    for p in psutil.disk_partitions():
        psutil.disk_usage(p.mountpoint)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of every thread, in ns resolution (cpu_times() counts 10 ms ticks)."""
    total_ns = 0
    for task in Path(f"/proc/{process.pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that just ended
            continue
    return total_ns / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()

    nats_bin = Path(sys.executable).parent / "nats-server"
    port = free_port()
    store = tempfile.mkdtemp(prefix="vigil-bench-")
    nats = subprocess.Popen(
        [str(nats_bin), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = VigilSettings(nats_url=f"nats://127.0.0.1:{port}", subject_prefix="bench")
    asyncio.run(provision_when_up(settings))  # a private server with no locks; its streams
    env = os.environ | {
        "VIGIL_NATS_URL": f"nats://127.0.0.1:{port}",
        "VIGIL_COLLECTOR_INTERVAL_S": str(args.interval),
        "VIGIL_SUBJECT_PREFIX": "bench",
    }
    collector = subprocess.Popen(
        [sys.executable, "-m", "vigil_collector"], env=env, stderr=subprocess.DEVNULL
    )
    baseline = subprocess.Popen([sys.executable, "-c", BASELINE, str(args.interval)])
    try:
        time.sleep(3.0)  # past imports and the first connect: measure the steady state
        procs = {
            "collector": psutil.Process(collector.pid),
            "baseline": psutil.Process(baseline.pid),
        }
        start = {name: cpu_seconds(p) for name, p in procs.items()}
        started = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - started
        used = {name: cpu_seconds(p) - start[name] for name, p in procs.items()}
        rss = {name: p.memory_info().rss / 2**20 for name, p in procs.items()}
    finally:
        for proc in (collector, baseline, nats):
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(store, ignore_errors=True)

    print(f"interval {args.interval:g} s, measured over {wall:.1f} s of wall time")
    print(f"{'process':<10} {'cpu s':>8} {'cpu %':>8} {'ms/sample':>10} {'rss MiB':>8}")
    samples = wall / args.interval
    for name in ("collector", "baseline"):
        print(
            f"{name:<10} {used[name]:>8.3f} {100 * used[name] / wall:>8.3f} "
            f"{1000 * used[name] / samples:>10.2f} {rss[name]:>8.1f}"
        )
    ratio = used["collector"] / used["baseline"] if used["baseline"] else float("inf")
    print(f"collector / bare psutil loop: {ratio:.2f}x")


if __name__ == "__main__":
    main()
