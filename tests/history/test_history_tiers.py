"""A range that crosses tiers: each tier up to its watermark, the next from there, the
raw samples last; no gap, no overlap."""

import time

from tests.history_support import (
    HOST,
    Container,
    docker_sample,
    history_settings_for,
    query,
    roller_for,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bus_client
from vigil.messages import HistoryKind


async def test_a_range_crossing_tiers_has_no_gap_and_no_overlap(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 20) * 60
    times = [start + 2 * i for i in range(300)]  # 10 minutes
    cpu = [float(i % 17) for i in range(len(times))]
    samples = [
        docker_sample(t, [Container("web", "a" * 12, c, 1000 + i)])
        for i, (t, c) in enumerate(zip(times, cpu, strict=True))
    ]
    settings = history_settings_for(nats_server, prefix, roll=False)  # answers only
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, samples)
        async with roller_for(settings) as roller:
            # as if it were start + 455: s10 is done to +450, s60 to +420, the rest is raw
            await roller.roll(now=start + 455)
        async with run_history(settings):
            answers = []
            for step, expected in (
                (60, [("s60", 0, 420), ("s10", 420, 450), ("raw", 450, 600)]),
                (10, [("s10", 0, 450), ("raw", 450, 600)]),
                # the point at +440 takes s10's window at +440 and raw samples from +450
                (20, [("s10", 0, 450), ("raw", 450, 600)]),
            ):
                answer = await query(
                    bus,
                    kind=HistoryKind.CONTAINER,
                    host=HOST,
                    container="web",
                    start=samples[0].time,
                    end=samples[-1].time,
                    step_s=step,
                )
                spans = [
                    (s.tier, s.start.timestamp() - start, s.end.timestamp() - start)
                    for s in answer.tiers
                ]
                assert spans == expected
                answers.append(answer)
                (entry,) = answer.entries
                points = [t.timestamp() - start for t in entry.times]
                assert points == list(range(0, 600, step))  # no gap
                assert entry.samples == [step // 2] * len(points)  # no overlap: none twice
                for n, at in enumerate(points):
                    inside = [cpu[i] for i, t in enumerate(times) if at <= t - start < at + step]
                    cpu_points = entry.series["cpu_percent"]
                    assert (cpu_points.min[n], cpu_points.max[n]) == (min(inside), max(inside))
                    assert cpu_points.mean[n] == sum(inside) / len(inside)
                    assert cpu_points.last[n] == inside[-1]
            again = await query(  # from the frames the service kept, and the same
                bus,
                kind=HistoryKind.CONTAINER,
                host=HOST,
                container="web",
                start=samples[0].time,
                end=samples[-1].time,
                step_s=60,
            )
            assert again == answers[0]
