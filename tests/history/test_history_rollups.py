"""Roll-ups against the raw samples they summarise, on a real NATS with the real service."""

import itertools
import math
import random
import time

from tests.history_support import (
    HOST,
    TIERS,
    Container,
    docker_sample,
    history_settings_for,
    query,
    rolled_up_to,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bus_client
from vigil.messages import HistoryKind


def minute_ago(minutes: int) -> int:
    return (int(time.time()) // 60 - minutes) * 60


async def test_rollups_equal_the_raw_samples_they_summarise(
    nats_server: NatsServer, prefix: str
) -> None:
    rng = random.Random(7)
    start = minute_ago(15)
    times = [start + 2 * i for i in range(300)]  # 10 minutes, a sample every 2 s
    cpu = [round(rng.uniform(0, 400), 2) for _ in times]
    memory = [rng.randrange(10**6, 10**10) for _ in times]
    rx = list(itertools.accumulate(rng.randrange(0, 10**5) for _ in times))
    samples = [
        docker_sample(t, [Container("web", "a" * 12, c, m, rx=r)])
        for t, c, m, r in zip(times, cpu, memory, rx, strict=True)
    ]
    settings = history_settings_for(nats_server, prefix)  # the streams provisioned
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, samples)
        async with run_history(settings):
            await rolled_up_to(bus, TIERS[1], start + 600)
            for tier in TIERS:
                step = tier.step_s
                answer = await query(
                    bus,
                    kind=HistoryKind.CONTAINER,
                    host=HOST,
                    container="web",
                    start=samples[0].time,
                    end=samples[-1].time,
                    step_s=step,
                )
                assert [span.tier for span in answer.tiers] == [tier.name]  # all rolled up
                (entry,) = answer.entries
                series = entry.series
                for n, point in enumerate(entry.times):
                    at = point.timestamp()
                    inside = [i for i, t in enumerate(times) if at <= t < at + step]
                    assert entry.samples[n] == len(inside)
                    values = [cpu[i] for i in inside]
                    assert series["cpu_percent"].min[n] == min(values)
                    assert series["cpu_percent"].max[n] == max(values)
                    assert series["cpu_percent"].last[n] == values[-1]
                    assert series["cpu_percent"].mean[n] == round(sum(values) * 100) / (
                        len(values) * 100
                    )
                    mem = [memory[i] for i in inside]
                    assert (series["memory_usage"].min[n], series["memory_usage"].max[n]) == (
                        min(mem),
                        max(mem),
                    )
                    assert series["memory_usage"].mean[n] == sum(mem) / len(mem)
                    rates = [
                        round((rx[i] - rx[i - 1]) * 10 / (times[i] - times[i - 1])) / 10
                        for i in inside
                        if i > 0
                    ]
                    assert series["network_rx"].max[n] == max(rates)
                    assert math.isclose(series["network_rx"].mean[n] or 0, sum(rates) / len(rates))
                assert sum(entry.samples) == len(times)
