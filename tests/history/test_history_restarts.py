"""History lives in JetStream: a restarted history service, or a restarted NATS (file
storage), goes on from where it was, with no gap and nothing counted twice."""

import asyncio
import time
from datetime import UTC, datetime

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
from vigil.messages import DockerStatsSampled, HistoryKind, HistorySeries


def sample(at: float, n: int) -> DockerStatsSampled:
    return docker_sample(at, [Container("web", "a" * 12, float(n % 13), 10**6 + n)])


async def container_history(
    nats: NatsServer, prefix: str, start: float, end: float, step: int
) -> HistorySeries:
    async with bus_client(nats, prefix) as bus:
        return await query(
            bus,
            kind=HistoryKind.CONTAINER,
            host=HOST,
            container="web",
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end, UTC),
            step_s=step,
        )


async def test_history_survives_a_service_restart_and_a_nats_restart(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    start = (int(time.time()) // 60 - 10) * 60
    settings = history_settings_for(nats, prefix)
    async with bus_client(nats, prefix) as bus:
        await write_samples(bus, [sample(start + 2 * i, i) for i in range(150)])  # 5 minutes
    async with run_history(settings):
        async with bus_client(nats, prefix) as bus:
            await rolled_up_to(bus, TIERS[1], start + 300)
        before = await container_history(nats, prefix, start, start + 300, 60)
    assert before.entries[0].samples == [30] * 5

    nats.stop()  # the service is down, NATS restarts: both come back to the same history
    nats.start()
    async with run_history(settings):
        assert await container_history(nats, prefix, start, start + 300, 60) == before

        nats.stop()  # and NATS again, under the running service, which goes on
        nats.start()
        live: list[float] = []
        async with bus_client(nats, prefix) as bus:
            for n in range(24):  # 6 s of samples, as they happen
                live.append(time.time())
                await bus.publish(bus.subjects.docker_metrics(HOST), sample(live[-1], n))
                await asyncio.sleep(0.25)
            await rolled_up_to(bus, TIERS[0], live[-1], timeout=30)
        after = await container_history(nats, prefix, live[0], live[-1], 10)
        assert [span.tier for span in after.tiers] == ["s10"]
        assert sum(after.entries[0].samples) == len(live)  # each once: no gap, no double
        assert await container_history(nats, prefix, start, start + 300, 60) == before
