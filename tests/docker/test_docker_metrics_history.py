"""A real container's history, from a real collector and engine: every stats sample the
collector published is in it once, across a restart of the collector (its counters
read again from the engine: no negative rate, nothing counted from before)."""

import json
from datetime import UTC, datetime

import pytest
from nats.aio.msg import Msg

from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.history_support import history_settings_for, query, run_history
from tests.support import NatsServer, bus_client, until, wait_for
from vigil.messages import HistoryKind, HistorySeries

HOST = "testhost"  # the docker_stack collector's


@pytest.mark.alone  # spins a CPU
async def test_a_containers_history_goes_on_across_a_collector_restart(
    docker_stack: DockerStack, containers: Containers, nats_server: NatsServer, prefix: str
) -> None:
    busy_id, busy = containers.run("busy", "sh", "-c", "while :; do :; done")
    published: list[float] = []  # the times of the samples holding the busy container

    async def seen(msg: Msg) -> None:
        batch = json.loads(msg.data)
        if any(c["name"] == busy for c in batch["containers"]):
            published.append(datetime.fromisoformat(batch["time"]).timestamp())

    async with (
        bus_client(nats_server, prefix) as bus,
        run_history(history_settings_for(nats_server, prefix)),
    ):
        watching = await bus.nc.subscribe(bus.subjects.docker_metrics(HOST), cb=seen)
        for run in (1, 2):  # the collector, then the collector again
            async with docker_stack.collector():
                await wait_for(lambda n=3 * run: len(published) >= n, f"samples of run {run}", 30)
        await bus.nc.flush()
        await watching.unsubscribe()
        start = datetime.fromtimestamp(published[0] - 1, UTC)

        async def answered() -> HistorySeries | None:
            answer = await query(
                bus, kind=HistoryKind.CONTAINER, host=HOST, container=busy, start=start, step_s=10
            )
            entries = answer.entries
            return answer if entries and sum(entries[0].samples) == len(published) else None

        answer = await until(answered, "every published sample in the history", 30)

    (entry,) = answer.entries
    assert entry.key == busy
    assert entry.id is not None
    assert busy_id.startswith(entry.id)
    cpu = [v for v in entry.series["cpu_percent"].max if v is not None]
    assert max(cpu) > 20  # a busy loop
    for counter in ("network_rx", "network_tx", "block_read", "block_write"):
        rates = [v for v in entry.series[counter].min if v is not None]
        assert all(rate >= 0 for rate in rates), (counter, rates)
