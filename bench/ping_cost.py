"""What the bus's keepalive pings cost: CPU and traffic of N idle NATS connections
pinging every `--interval` seconds, against nats-py's default (120 s) in the same run.

Each run starts a private nats-server and one child process holding `--connections`
nats-py connections that do nothing else, for `--seconds`. It prints the CPU time
the server and the clients used (from /proc, all threads) and what the client
sockets sent and received (`ss -ti`: bytes and TCP segments, headers not counted in
bytes), per connection and second.

    uv run python bench/ping_cost.py [--connections 50] [--seconds 30] [--interval 1 2]
"""

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

CLIENTS = """
import asyncio, sys
import nats

async def main(url, count, interval):
    conns = [
        await nats.connect(url, ping_interval=interval, max_outstanding_pings=2)
        for _ in range(count)
    ]
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid` (schedstat: nanoseconds, not 10 ms ticks)."""
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_ns / 1e9


def socket_traffic(port: int) -> tuple[int, int, int, int]:
    """Bytes sent, bytes received, segments out and in, of every client socket to `port`."""
    listed = subprocess.run(
        ["ss", "-tin", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    totals = [0, 0, 0, 0]
    for i, name in enumerate(("bytes_sent", "bytes_received", "segs_out", "segs_in")):
        totals[i] = sum(int(n) for n in re.findall(rf"\b{name}:(\d+)", listed))
    return totals[0], totals[1], totals[2], totals[3]


@dataclass
class Figures:
    interval: int
    server_cpu_s: float
    clients_cpu_s: float
    sent: int
    received: int
    segments: int


def run(interval: int, connections: int, seconds: float, server: str) -> Figures:
    port = free_port()
    with tempfile.TemporaryDirectory() as store:
        nats = subprocess.Popen(
            [server, "-a", "127.0.0.1", "-p", str(port), "-sd", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                assert time.monotonic() < deadline, "nats-server did not start"
                time.sleep(0.05)
            clients = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CLIENTS,
                    f"nats://127.0.0.1:{port}",
                    str(connections),
                    str(interval),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert clients.stdout is not None
                assert clients.stdout.readline().strip() == "ready"
                time.sleep(1.0)  # past the connects' own traffic
                start = (cpu_seconds(nats.pid), cpu_seconds(clients.pid), socket_traffic(port))
                time.sleep(seconds)
                end = (cpu_seconds(nats.pid), cpu_seconds(clients.pid), socket_traffic(port))
            finally:
                clients.kill()
                clients.wait()
        finally:
            nats.terminate()
            nats.wait()
    return Figures(
        interval,
        end[0] - start[0],
        end[1] - start[1],
        end[2][0] - start[2][0],
        end[2][1] - start[2][1],
        end[2][2] - start[2][2] + end[2][3] - start[2][3],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    server = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    n, s = args.connections, args.seconds
    print(f"{n} idle connections for {s:.0f} s; load average {psutil.getloadavg()[0]:.1f}")
    print("ping every | server CPU | clients CPU | sent+received per conn/s | segments per conn/s")
    for interval in [120, *args.interval]:
        f = run(interval, n, s, server)
        print(
            f"{f.interval:>8} s | {f.server_cpu_s * 1000 / s:7.2f} ms/s | "
            f"{f.clients_cpu_s * 1000 / s:8.2f} ms/s | "
            f"{(f.sent + f.received) / n / s:10.1f} B | {f.segments / n / s:8.2f}"
        )


if __name__ == "__main__":
    main()
