"""The collector's memory: what its imports cost, what it holds while it runs, and the
floor of the libraries it cannot do without.

First the RSS of fresh processes that only import: bare Python; `asyncio` and `ssl`;
the floor (`nats`, `pydantic`, `docker`: the bus, the contract and the engine's client,
then with `psutil` and `pydantic-settings` too), each with aiohttp importable (nats-py
imports it for its WebSocket transport when it is installed, and the kubernetes client
installs it) and hidden; and the collector's start: what `python -m vigil_collector`
imports and builds before it runs. Then it starts idle busybox containers (labelled
`vigil.bench=<run>`) up to `--containers`, runs the real collector with the cgroup reader
against a private nats-server (`docker_stats.collector_row`) for `--seconds` past its
first full batch, and prints its peak RSS (VmHWM). The containers are removed at the end,
whatever happens.

    uv run --all-packages python bench/collector_rss.py [--containers 100] [--interval 2]
        [--seconds 30]
"""

import argparse
import subprocess
import sys
import uuid

from docker_stats import collector_row, nats_server, remove, running_now, start

from tests.docker_engine import busybox_image

WITHOUT_AIOHTTP = "import sys; sys.modules['aiohttp'] = None\n"
RSS = """
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""
COLLECTOR_START = """
from vigil_collector.__main__ import build
from vigil_collector.settings import CollectorSettings
build(CollectorSettings())
"""
IMPORTS = [
    ("python", "", False),
    ("asyncio, ssl", "import asyncio, ssl", False),
    ("nats, pydantic, docker", "import nats, pydantic, docker", True),
    (
        "+ psutil, pydantic_settings",
        "import nats, pydantic, docker, psutil, pydantic_settings",
        True,
    ),
    ("the collector's start", COLLECTOR_START, False),
]


def rss_mb(code: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code + RSS], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured, past the start")
    args = parser.parse_args()

    print("RSS MB of a process that only imports")
    for name, code, both in IMPORTS:
        line = f"  {name:<30} {rss_mb(code):6.1f}"
        if both:
            line += f"   aiohttp hidden {rss_mb(WITHOUT_AIOHTTP + code):6.1f}"
        print(line)

    image = busybox_image()
    label = uuid.uuid4().hex[:8]
    try:
        with nats_server() as url:
            start(image, label, args.containers)
            running = len(running_now())
            row = collector_row(
                url, "cgroup", args.containers, running, args.interval, args.seconds
            )
    finally:
        remove(label)
    print(
        f"the collector (cgroup reader), {running} running containers every"
        f" {args.interval:g} s, {args.seconds:g} s: peak RSS {row.rss_mb:.1f} MB,"
        f" CPU {row.percent(row.own_cpu):.2f} % of a core"
    )


if __name__ == "__main__":
    main()
