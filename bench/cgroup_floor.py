"""The floor of container stats: a bare loop that reads each container's cgroup v1 files
and `/proc/<pid>/net/dev` every interval, opening each file every time and parsing
every figure the collector publishes, and does nothing else (`bench/docker_stats.py`
runs it beside the collector).

    python bench/cgroup_floor.py INTERVAL_S FILES_JSON
"""

import json
import sys
import time


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def cycle(containers: list[dict[str, str]]) -> list[tuple[int, int, int, int, int, int]]:
    figures = []
    for c in containers:
        try:
            figures.append(one(c))
        except OSError:  # it stopped: skipped, as the reader does
            continue
    return figures


def one(c: dict[str, str]) -> tuple[int, int, int, int, int, int]:
    cpu = int(read(c["cpu"]))
    usage = int(read(c["usage"]))
    stat = read(c["stat"])
    at = stat.find(b"total_inactive_file ")
    inactive = int(stat[at + 20 : stat.find(b"\n", at)]) if at >= 0 else 0
    limit = int(read(c["limit"]))
    io = [line.split() for line in read(c["blkio"]).splitlines()]
    block = sum(int(p[2]) for p in io if len(p) == 3 and p[1] in (b"Read", b"Write"))
    pids = int(read(c["pids"]))
    rx = tx = 0
    for line in read(c["net"]).splitlines()[2:]:
        name, _, rest = line.partition(b":")
        if name.strip() != b"lo":
            fields = rest.split()
            rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return cpu, usage - inactive, limit, block, pids, rx + tx


def main() -> None:
    interval = float(sys.argv[1])
    with open(sys.argv[2]) as listing:
        containers = json.load(listing)
    next_at = time.monotonic()
    while True:
        cycle(containers)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    main()
