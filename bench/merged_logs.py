"""A merged log view's throughput and the latency its reorder window adds.

Ten simulated containers (statuses with a shared label, then log batches every 100 ms
on their JetStream subjects, as collectors publish them) write 200 lines/s each for
`--seconds`, through a real nats-server and gateway on uvicorn. One client watches
the ten as one `logs.merged` view; the baseline is a client subscribed to the ten
`docker.logs` channels, unmerged, in the same run. For each: lines received, lines
per second, and the latency from a line's time to its arrival (p50, p99).

    .venv/bin/python bench/merged_logs.py [--sources 10] [--rate 200] [--seconds 20]
"""

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.client import ClientConnection, connect

from tests.docker_support import announce_container
from tests.support import (
    NatsServer,
    auth_settings_for,
    bus_client,
    login,
    receive,
    receive_until,
    run_auth,
    send,
    serve_gateway,
)
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import LogBatch, LogLine
from vigil_gateway.settings import GatewaySettings

HOST = "benchhost"
PASSWORD = "bench-password"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def write(bus: Bus, container: str, rate: int, seconds: float) -> int:
    """Lines at `rate` a second, in batches every 100 ms, stamped when written."""
    sent, started = 0, time.monotonic()
    subject = bus.subjects.docker_logs(HOST, container)
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) - sent
        if due > 0:
            now = datetime.now(UTC)
            lines = [
                LogLine(time=now, stream="stdout", text=f"{container} {sent + n}")
                for n in range(due)
            ]
            await bus.publish(subject, LogBatch(host=HOST, container=container, lines=lines))
            sent += due
        await asyncio.sleep(0.1)
    return sent


async def watch(
    ws: ClientConnection, until: float, steady_until: datetime, latencies: list[float]
) -> int:
    """Lines received; the latency of those stamped while every source still wrote (at
    the end the last lines wait out the window: no source passes them any more)."""
    received = 0
    while time.monotonic() < until:
        try:
            message = await receive(ws, timeout=max(0.1, until - time.monotonic()))
        except TimeoutError:
            break
        if message["type"] != "update":
            continue
        now = datetime.now(UTC)
        for line in message["data"]["lines"]:
            if not line.get("marker"):
                received += 1
                stamped = datetime.fromisoformat(line["time"])
                if stamped < steady_until:
                    latencies.append((now - stamped).total_seconds())
    return received


async def run(sources: int, rate: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as store:
        nats = NatsServer(Path(store))
        nats.start()
        prefix = "bench" + uuid.uuid4().hex[:8]
        try:
            async with (
                run_auth(auth_settings_for(nats, prefix, admin_password=PASSWORD)),
                bus_client(nats, prefix) as bus,
            ):
                token = (await login(nats, prefix, "admin", PASSWORD)).access_token
                containers = [uuid.uuid4().hex[:12] for _ in range(sources)]
                label = uuid.uuid4().hex[:8]
                for container in containers:
                    name, labels = f"bench-{container}", {"bench": label}
                    await announce_container(bus, HOST, container, name, labels)
                settings = GatewaySettings(**nats.service(ServiceRole.GATEWAY, prefix))
                async with serve_gateway(settings) as address:
                    await measure(address, token, bus, containers, label, rate, seconds)
        finally:
            nats.stop()


async def measure(
    address: str,
    token: str,
    bus: Bus,
    containers: list[str],
    label: str,
    rate: int,
    seconds: float,
) -> None:
    url = f"ws://{address}/ws?token={token}"
    async with connect(url, max_size=None) as merged, connect(url, max_size=None) as plain:
        for ws, subscriptions in (
            (merged, [("logs.merged", {"label": f"bench={label}"})]),
            (plain, [("docker.logs", {"container": c, "host": HOST}) for c in containers]),
        ):
            await receive(ws)
            for channel, params in subscriptions:
                await send(ws, {"type": "subscribe", "channel": channel, "params": params})
                await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})
        figures: dict[str, list[float]] = {"merged": [], "unmerged": []}
        until = time.monotonic() + seconds + 3
        steady_until = datetime.now(UTC) + timedelta(seconds=seconds - 0.5)
        started = time.monotonic()
        results: list[Any] = await asyncio.gather(
            watch(merged, until, steady_until, figures["merged"]),
            watch(plain, until, steady_until, figures["unmerged"]),
            *(write(bus, c, rate, seconds) for c in containers),
        )
        took = time.monotonic() - started
    written = sum(results[2:])
    print(f"{len(containers)} sources x {rate} lines/s for {seconds:.0f} s: {written} lines\n")
    print(f"{'':12}{'received':>10}{'lines/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for (name, latencies), received in zip(figures.items(), results[:2], strict=True):
        p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
        print(f"{name:12}{received:>10}{received / took:>10.0f}{p50:>10.0f}{p99:>10.0f}")
    base = percentile(figures["unmerged"], 0.5)
    added = (percentile(figures["merged"], 0.5) - base) * 1000
    print(f"\nlatency the merge adds at p50: {added:.0f} ms (window 1.0 s at most)")


def main() -> None:
    logging.getLogger("vigil_gateway.directory.leases").setLevel(logging.ERROR)  # no collector here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--rate", type=int, default=200, help="lines per second per source")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.sources, args.rate, args.seconds))


if __name__ == "__main__":
    main()
