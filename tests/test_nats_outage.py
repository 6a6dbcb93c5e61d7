"""NATS going away is reported to clients, and data flows again by itself when it returns."""

import httpx
from websockets.asyncio.client import connect

from tests.conftest import collector_settings_for
from tests.support import NatsServer, receive, receive_until, run_collector, send, serve_gateway
from vigil.messages import utc_now
from vigil_gateway.settings import GatewaySettings


async def test_clients_get_unavailable_then_metrics_again_on_the_same_socket(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    gateway = GatewaySettings(nats_url=nats.url, subject_prefix=prefix)
    async with (
        run_collector(collector_settings_for(nats, prefix)),
        serve_gateway(gateway) as address,
        connect(f"ws://{address}/ws") as ws,
        connect(f"ws://{address}/api/system/ws") as system,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        await receive_until(ws, lambda m: m["type"] == "update", timeout=5)
        await receive_until(system, lambda m: m["type"] == "system_metric", timeout=5)

        nats.stop()
        error = await receive_until(ws, lambda m: m["type"] == "error", timeout=5)
        assert error["code"] == "UNAVAILABLE"
        assert "resumes by itself" in error["message"]
        seed_error = await receive_until(system, lambda m: m["type"] == "error", timeout=5)
        assert seed_error["code"] == "UNAVAILABLE"
        assert (await http.get("/readyz")).status_code == 503
        await send(ws, {"type": "ping"})  # the socket is still served
        assert (await receive_until(ws, lambda m: m["type"] == "pong")) is not None

        restarted_at = utc_now().isoformat().replace("+00:00", "Z")
        nats.start()
        fresh = await receive_until(  # sampled after the restart, not a replayed value
            ws, lambda m: m["type"] == "update" and m["data"]["time"] > restarted_at, timeout=15
        )
        assert fresh["data"]["host"] == "testhost"
        await receive_until(
            system,
            lambda m: m["type"] == "system_metric" and m["data"]["time"] > restarted_at,
            timeout=15,
        )
        assert (await http.get("/readyz")).status_code == 200


async def test_a_gateway_started_before_nats_is_not_ready_until_it_comes(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    nats.stop()
    gateway = GatewaySettings(nats_url=nats.url, subject_prefix=prefix)
    async with (
        serve_gateway(gateway) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
        connect(f"ws://{address}/ws") as ws,
    ):
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        assert (await receive(ws))["type"] == "subscribed"
        assert (await receive(ws))["code"] == "UNAVAILABLE"

        nats.start()
        async with run_collector(collector_settings_for(nats, prefix)):
            update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
        assert update["data"]["host"] == "testhost"
        assert (await http.get("/readyz")).status_code == 200
