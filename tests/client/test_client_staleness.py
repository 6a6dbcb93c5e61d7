"""The Python client exposes staleness: a state whose source stopped comes as a `Stale`
event and sits in `Subscription.stale` until a `Fresh` event and the next value, over
the socket and over polling (a proxy blocking sockets and event streams)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

from tests.client_support import BlockingProxy, client_for
from tests.support import host_sample, serve_gateway
from vigil.bus import Bus
from vigil.messages import Fresh, Stale, Update
from vigil.streams import LATEST
from vigil_auth.app import AuthService
from vigil_client import ConnectionState, Subscription, TransportKind
from vigil_gateway.settings import GatewaySettings

E = TypeVar("E", Update, Stale, Fresh)
INTERVAL_S = 0.5
KEY = "metrics.host.web1"


@contextlib.asynccontextmanager
async def sampling(bus: Bus) -> AsyncIterator[None]:
    """A host sample of `web1` every interval, as its collector publishes them."""

    async def publish() -> None:
        while True:
            sample = host_sample(host="web1").model_copy(update={"interval_s": INTERVAL_S})
            await bus.publish(bus.subjects.host_metrics("web1"), sample)
            await asyncio.sleep(INTERVAL_S)

    task = asyncio.create_task(publish())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_of(subscription: Subscription, kind: type[E], timeout: float = 10.0) -> E:
    async with asyncio.timeout(timeout):
        while not isinstance(event := await subscription.next(), kind):
            pass
    return event


async def stale_then_fresh(bus: Bus, metrics: Subscription) -> None:
    async with sampling(bus):
        await next_of(metrics, Update)
    stale = await next_of(metrics, Stale)
    assert (stale.key, stale.interval_s) == (KEY, INTERVAL_S)
    assert stale.age_s >= 3 * INTERVAL_S
    assert list(metrics.stale) == [KEY]
    async with sampling(bus):
        fresh = await next_of(metrics, Fresh)
        assert fresh.key == KEY
        assert metrics.stale == {}
        await next_of(metrics, Update)


async def test_the_client_tells_stale_and_fresh_over_the_socket_and_over_polling(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    await alerts_bus.js.add_stream(LATEST.config(alerts_bus.subjects))
    settings = gateway_settings.model_copy(update={"stale_min_s": 0.0})
    async with serve_gateway(settings) as gateway:
        async with client_for(gateway, admin_token) as client:
            metrics = await client.subscribe("host.metrics", {"host": "web1"})
            await stale_then_fresh(alerts_bus, metrics)

        host, port = gateway.rsplit(":", 1)
        proxy = BlockingProxy((host, int(port)), block_websocket=True, block_sse=True)
        async with (
            proxy.running(),
            client_for(proxy.address, admin_token, fallback_after=1) as client,
        ):
            metrics = await client.subscribe("host.metrics", {"host": "web1"})
            async with asyncio.timeout(15):
                await client.wait_until(ConnectionState.FALLBACK, transport=TransportKind.POLLING)
            await stale_then_fresh(alerts_bus, metrics)
