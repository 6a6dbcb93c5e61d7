"""NATS going away is reported to clients, and data flows again by itself when it returns."""

import asyncio

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests import forgery
from tests.conftest import ADMIN_PASSWORD, collector_settings_for
from tests.support import (
    NatsServer,
    auth_settings_for,
    login,
    receive,
    receive_until,
    run_auth,
    run_collector,
    send,
    serve_gateway,
)
from vigil.busauth.permissions import ServiceRole
from vigil.messages import utc_now
from vigil_gateway.settings import GatewaySettings


async def test_clients_get_unavailable_then_metrics_again_on_the_same_socket(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    gateway = GatewaySettings(**nats.service(ServiceRole.GATEWAY, prefix))
    async with (
        run_auth(auth_settings_for(nats, prefix, admin_password=ADMIN_PASSWORD)),
        run_collector(collector_settings_for(nats, prefix)),
        serve_gateway(gateway) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        token = (await login(nats, prefix, "admin", ADMIN_PASSWORD)).access_token
        async with (
            connect(f"ws://{address}/ws?token={token}") as ws,
            connect(f"ws://{address}/api/system/ws?token={token}") as system,
        ):
            await _survive_an_outage(nats, ws, system, http)


async def _survive_an_outage(
    nats: NatsServer, ws: ClientConnection, system: ClientConnection, http: httpx.AsyncClient
) -> None:
    """Metrics flow; NATS stops (UNAVAILABLE, stale, 503); NATS starts (fresh metrics, 200)."""
    await receive(ws)
    await send(ws, {"type": "subscribe", "channel": "host.metrics"})
    await receive_until(ws, lambda m: m["type"] == "update", timeout=5)
    await receive_until(system, lambda m: m["type"] == "system_metric", timeout=5)

    nats.stop()
    error = await receive_until(ws, lambda m: m["type"] == "error", timeout=5)
    assert error["code"] == "UNAVAILABLE"
    assert "resumes by itself" in error["message"]
    stale = await receive_until(ws, lambda m: m["type"] == "stale", timeout=5)
    assert stale["reason"] == "the message bus is unavailable"  # not 3 samples late
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


async def test_a_gateway_started_before_nats_is_not_ready_and_says_try_later(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    nats.stop()
    gateway = GatewaySettings(**nats.service(ServiceRole.GATEWAY, prefix, provision=False))
    async with (
        serve_gateway(gateway, ready=False) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        token = forgery.signed(forgery.claims())  # well-formed: only its keys are unknown yet
        async with connect(f"ws://{address}/ws?token={token}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013  # credentials cannot be checked yet: try later

        nats.start()
        async with (
            run_auth(auth_settings_for(nats, prefix, admin_password=ADMIN_PASSWORD)),
            run_collector(collector_settings_for(nats, prefix)),
        ):
            await wait_for_ready(http)
            token = (await login(nats, prefix, "admin", ADMIN_PASSWORD)).access_token
            async with connect(f"ws://{address}/ws?token={token}") as ws:
                await receive(ws)
                await send(ws, {"type": "subscribe", "channel": "host.metrics"})
                update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
        assert update["data"]["host"] == "testhost"


async def wait_for_ready(http: httpx.AsyncClient, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await http.get("/readyz")).status_code != 200:
        assert asyncio.get_running_loop().time() < deadline, "the gateway never became ready"
        await asyncio.sleep(0.05)
