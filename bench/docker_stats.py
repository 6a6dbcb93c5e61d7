"""Cost of one Docker stats cycle, against a naive docker-py loop in the same run.

Starts 50 and then 100 idle containers (busybox `sleep`, from the tests' local image),
and for each count measures, in this process and against the same engine:

- Vigil's `ApiStats` (the collector's API reader): `one_shot` stats of every
  running container at once from a thread pool, with its own deltas;
- the naive loop: `container.stats(stream=False)` for every running container, one
  after another, as docker-py's docs suggest. It waits ~2 s per container (one cycle
  of 100 takes minutes), so it runs one cycle per count; `--naive-sample N` caps it at
  N containers and scales its figures to the running count (the table marks them).

Per cycle: wall seconds, CPU seconds of this process (the sampler's threads, or the
loop), and CPU seconds of the engine's side: dockerd, containerd and every
containerd-shim (each container's shim answers its stats). Publishing to NATS is not
included (one message per cycle; `bench/collector_cpu.py` measures the collector
process). The containers are removed at the end, whatever happens.

    uv run --all-packages python bench/docker_stats.py [--counts 50 100] [--cycles 3]
        [--naive-sample N]
"""

import argparse
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.docker_engine import busybox_image
from vigil_collector import engine
from vigil_collector.container_stats import ApiStats
from vigil_collector.running_containers import RunningContainers


def own_cpu_s() -> float:
    total_ns = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_ns / 1e9


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


def measure(work: Callable[[], object], cycles: int) -> tuple[float, float, float]:
    """Wall seconds, own CPU seconds, engine CPU seconds: per cycle."""
    processes = engine_processes()
    wall, own, eng = time.monotonic(), own_cpu_s(), engine_cpu_s(processes)
    for _ in range(cycles):
        work()
    return (
        (time.monotonic() - wall) / cycles,
        (own_cpu_s() - own) / cycles,
        (engine_cpu_s(processes) - eng) / cycles,
    )


def start(image: str, label: str, count: int) -> None:
    def one(_: int) -> None:
        subprocess.run(
            ["docker", "run", "-d", "--label", f"vigil.bench={label}", image, "sleep", "3600"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=None,
        metavar="N",
        help="time the naive loop on N containers only and scale (default: on all)",
    )
    parser.add_argument("--workers", type=int, default=128)
    args = parser.parse_args()

    image = busybox_image()
    label = uuid.uuid4().hex[:8]
    api, version = engine.connect(None, 30, args.workers + 4)
    client = docker.from_env(timeout=60)
    sampler = ApiStats(api, "bench", args.workers)
    known = RunningContainers()
    rows = []
    try:
        started = 0
        for count in sorted(args.counts):
            start(image, label, count - started)
            started = count
            known.reset(known.fill(api, api.containers(all=True)))
            running = len(known.now())
            sampler.sample(known.now())  # prime the deltas
            ours = measure(lambda: sampler.sample(known.now()), args.cycles)
            ours_seen = len(sampler.sample(known.now()).containers)

            sample = client.containers.list()  # every running one, as the sampler lists
            sample = sample[: args.naive_sample]

            def naive(containers: list = sample) -> None:  # type: ignore[type-arg]
                for container in containers:
                    container.stats(stream=False)

            naive_wall, naive_own, naive_eng = measure(naive, 1)
            scale = running / len(sample)  # 1 unless capped by --naive-sample
            rows.append(
                (
                    count,
                    running,
                    ours_seen,
                    ours,
                    (naive_wall * scale, naive_own * scale, naive_eng * scale),
                    len(sample),
                )
            )
    finally:
        sampler.close()
        api.close()
        client.close()
        remove(label)

    print(
        f"Docker engine {version}; vigil: mean of {args.cycles} cycles, workers {args.workers};"
        " naive: one cycle"
    )
    print("Per stats cycle of every running container: wall s (elapsed), cpu s (this")
    print("process's CPU time), engine s (CPU time of dockerd + containerd + shims).")
    print(
        f"{'bench':>5} {'running':>7} | {'vigil wall s':>12} {'cpu s':>7} {'engine s':>8}"
        f" | {'naive wall s':>12} {'cpu s':>7} {'engine s':>8} | {'wall ratio':>10}"
    )
    scaled = False
    for count, running, seen, ours, naive, sampled in rows:
        mark = "*" if sampled < running else " "
        scaled = scaled or sampled < running
        print(
            f"{count:>5} {running:>7} | {ours[0]:>12.2f} {ours[1]:>7.3f} {ours[2]:>8.3f}"
            f" | {naive[0]:>11.1f}{mark} {naive[1]:>7.3f} {naive[2]:>8.3f}"
            f" | {naive[0] / ours[0]:>9.0f}x"
        )
        assert seen == running or seen >= count, "every running container in the batch"
    if scaled:
        print(
            f"* naive loop timed on {args.naive_sample} of the running containers, its figures"
            " scaled to the running count (the loop is linear: ~2 s per container)"
        )
    else:
        print("naive figures measured on every running container, none scaled")


if __name__ == "__main__":
    main()
