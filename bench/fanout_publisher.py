"""The publisher of `bench/fanout.py`: host samples on JetStream at a steady rate.

Publishes `HostMetricsSampled` (about 1 KB of JSON) with `Bus.publish` (acked) on
`Subjects(prefix).host_metrics(host)`, cycling through `--hosts` hosts so that each
message has its own subject: host.metrics is a *state* channel, where a newer value
of the same subject replaces a queued one, and the benchmark means to count every
message. Each sample's `time` is the moment it is published; clients measure latency
against it. Prints `{"event": "started"}` just before the first publish and
`{"event": "done", "published": n, "t0_ns": ..., "t1_ns": ...}` at the end.
"""

import argparse
import asyncio
import json
import signal
import sys
import time

from vigil.bus import Bus
from vigil.messages import (
    CpuUsage,
    DiskIoRates,
    FilesystemUsage,
    HostMetricsSampled,
    LoadAverage,
    MemoryUsage,
    NetworkRates,
    SwapUsage,
    utc_now,
)
from vigil.settings import VigilSettings
from vigil.streams import LATEST


def sample() -> HostMetricsSampled:
    """A realistic sample: 16 cores and 3 filesystems make about 1 KB of JSON."""
    return HostMetricsSampled(
        host="bench-00000",
        time=utc_now(),
        interval_s=2.0,
        cpu=CpuUsage(percent=37.5, per_core=[12.5 + 3.25 * core for core in range(16)]),
        load=LoadAverage(one=1.25, five=0.98, fifteen=0.71),
        memory=MemoryUsage(total=33_554_432_000, available=20_971_520_000, used=12_582_912_000,
                           percent=37.5),
        swap=SwapUsage(total=4_294_967_296, used=0, percent=0.0),
        filesystems=[
            FilesystemUsage(mountpoint=mount, device=f"/dev/nvme0n1p{i}", fstype="ext4",
                            total=512_110_190_592, used=203_412_930_560, free=308_697_260_032,
                            percent=39.7)
            for i, mount in enumerate(("/", "/var", "/data"), start=1)
        ],
        disk_io=DiskIoRates(read_bytes_per_s=1_048_576.5, write_bytes_per_s=4_194_304.25,
                            read_ops_per_s=120.5, write_ops_per_s=340.75),
        network=NetworkRates(rx_bytes_per_s=2_621_440.5, tx_bytes_per_s=1_310_720.25,
                             rx_packets_per_s=2_150.5, tx_packets_per_s=1_840.25,
                             rx_bytes_total=98_765_432_100, tx_bytes_total=12_345_678_900),
        uptime_s=864_000.0,
    )  # fmt: skip


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> None:
    bus = Bus(
        VigilSettings(nats_url=args.nats_url, subject_prefix=args.prefix),
        name="bench-publisher",
        streams=[LATEST],
        provisions=True,  # the bench's own private server, with no locks
    )
    await bus.connect()
    hosts = [f"bench-{i:05d}" for i in range(args.hosts)]
    # each host publishes once per cycle through them all: its interval, so that the
    # gateway does not take a host for stale (and tell every client) between its turns
    cycle_s = len(hosts) / args.rate if args.rate > 0 else 2.0
    template = sample().model_copy(update={"interval_s": max(2.0, cycle_s)})
    subjects = [bus.subjects.host_metrics(host) for host in hosts]
    interval = 1 / args.rate if args.rate > 0 else 0.0
    emit("started", size=len(template.model_dump_json()))
    t0_ns, start = time.time_ns(), time.monotonic()
    end = start + args.seconds
    published = 0
    try:
        while (now := time.monotonic()) < end:
            due = start + published * interval
            if due >= end:
                break
            if due > now:
                await asyncio.sleep(due - now)
            i = published % len(hosts)
            message = template.model_copy(update={"host": hosts[i], "time": utc_now()})
            await bus.publish(subjects[i], message)
            published += 1
        t1_ns = time.time_ns()
    finally:
        await bus.close()
    emit("done", published=published, t0_ns=t0_ns, t1_ns=t1_ns)


def main() -> None:
    parser = argparse.ArgumentParser(description="host-sample publisher (see fanout.py)")
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--rate", type=float, default=10.0, help="msg/s; 0 = as fast as acks")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=int, default=600, help="watchdog")
    args = parser.parse_args()
    signal.alarm(args.max_seconds)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
