"""How fast the audit trail takes events, and that it keeps every one.

A private nats-server with the AUDIT stream; `--events` audit events recorded as fast as
a service records them (`AuditTrail.record`, which queues and returns), timed until the
last is acked by JetStream; then the stream is counted. The baseline, in the same run
and process, is the same events published with no ack awaited (core NATS publishes and
one flush): what the server takes at most from one connection. Prints events/s of each,
the ratio, and whether every event was kept once.

    uv run --all-packages python bench/audit.py [--events 50000] [--runs 3]
"""

import argparse
import asyncio
import statistics
import time

from docker_stats import PREFIX, nats_server

from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.messages import AuditActor, AuditEvent, AuditOutcome, utc_now
from vigil.settings import VigilSettings
from vigil.streams import AUDIT

ACTOR = AuditActor(kind="user", id="u1", name="bench")


async def kept(bus: Bus) -> int:
    return (await bus.js.stream_info(AUDIT.stream(bus.subjects))).state.messages


async def through_the_trail(bus: Bus, events: int) -> float:
    """Seconds from the first `record` to the last ack."""
    trail = AuditTrail(bus, "gateway", max_waiting=events)
    started = time.perf_counter()
    for n in range(events):
        trail.record("bench.event", AuditOutcome.DONE, ACTOR, target=f"target {n}")
        if n % 1000 == 999:
            await asyncio.sleep(0)  # as requests interleave with the sending task
    await trail.close(within_s=600)  # returns once the last is acked
    elapsed = time.perf_counter() - started
    if trail.waiting:
        raise SystemExit(f"{trail.waiting} events not acked")
    return elapsed


async def without_acks(bus: Bus, events: int) -> float:
    """Seconds to publish the same events with no ack awaited, and flush."""
    subject = bus.subjects.audit("gateway")
    started = time.perf_counter()
    for n in range(events):
        event = AuditEvent(
            time=utc_now(),
            service="gateway",
            action="bench.event",
            outcome=AuditOutcome.DONE,
            actor=ACTOR,
            target=f"target {n}",
        )
        await bus.nc.publish(subject, event.model_dump_json().encode())
    await bus.nc.flush()
    return time.perf_counter() - started


async def measure(url: str, events: int, runs: int) -> None:
    settings = VigilSettings(nats_url=url, subject_prefix=PREFIX)
    bus = Bus(settings, name="bench-audit", streams=[AUDIT])
    await bus.connect()
    try:
        rows: dict[str, list[float]] = {"AuditTrail.record": [], "publish, no acks": []}
        expected = 0
        for _ in range(runs):
            rows["AuditTrail.record"].append(events / await through_the_trail(bus, events))
            rows["publish, no acks"].append(events / await without_acks(bus, events))
            expected += 2 * events
        for _ in range(50):  # the un-acked ones are stored a moment later
            if await kept(bus) >= expected:
                break
            await asyncio.sleep(0.1)
        stored = await kept(bus)
    finally:
        await bus.close()
    trail, ceiling = (statistics.median(rates) for rates in rows.values())
    print(f"{events} events a run, {runs} runs, medians:")
    print("| path | events/s (median) | min | max |")
    print("|---|---|---|---|")
    for name, rates in rows.items():
        print(
            f"| {name} | {statistics.median(rates):,.0f} | {min(rates):,.0f} | {max(rates):,.0f} |"
        )
    print(f"ratio trail / no-ack ceiling: {trail / ceiling:.2f}")
    print(
        f"kept: {stored} of {expected} ({'every one' if stored == expected else 'LOST OR DOUBLED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with nats_server() as url:
        asyncio.run(measure(url, args.events, args.runs))


if __name__ == "__main__":
    main()
