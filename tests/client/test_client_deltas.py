"""A client that asks for deltas on a state channel reads whole values, exactly as
published, while the gateway sends only what changed: over the socket and over SSE."""

import asyncio
from typing import Any

import pytest

from tests.client_support import BlockingProxy, client_for, updates_until
from tests.fleet import Fleet
from vigil.bus import Bus
from vigil.messages import DockerStatsSampled
from vigil.streams import LATEST
from vigil_client import ConnectionState, TransportKind


def published(batch: DockerStatsSampled) -> dict[str, Any]:
    return batch.model_dump(mode="json")


@pytest.mark.parametrize("transport", [TransportKind.WEBSOCKET, TransportKind.SSE])
async def test_a_delta_subscription_reads_every_value_whole_and_exact(
    gateway: str, admin_token: str, alerts_bus: Bus, transport: TransportKind
) -> None:
    await alerts_bus.js.add_stream(LATEST.config(alerts_bus.subjects))
    fleet = Fleet("h1", size=30)
    batches = [fleet.batch() for _ in range(11)]
    subject = alerts_bus.subjects.docker_metrics("h1")
    await alerts_bus.publish(subject, batches[0])
    host, port = gateway.rsplit(":", 1)
    blocked = transport is TransportKind.SSE
    async with (
        BlockingProxy((host, int(port)), block_websocket=blocked).running() as proxy,
        client_for(proxy.address, admin_token, fallback_after=1) as client,
    ):
        stats = await client.subscribe("docker.stats", {"host": "h1"}, delta=True)
        async with asyncio.timeout(10):
            await client.wait_until(
                ConnectionState.LIVE, ConnectionState.FALLBACK, transport=transport
            )
        (snapshot,) = await updates_until(stats, lambda seen: len(seen) == 1)
        assert snapshot.data == published(batches[0])
        for batch in batches[1:]:
            await alerts_bus.publish(subject, batch)
            (value,) = await updates_until(stats, lambda seen: len(seen) == 1)
            assert value.data == published(batch)
    assert stats.deltas == 10  # every value after the snapshot came as a delta
    assert stats.resyncs == 0
