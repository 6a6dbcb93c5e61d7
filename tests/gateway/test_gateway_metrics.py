"""`/metrics` counts what really happened on the sockets."""

import asyncio

import httpx
from websockets.asyncio.client import connect

from tests.support import (
    NatsServer,
    Samples,
    bus_client,
    free_port,
    raise_alert,
    receive,
    receive_until,
    samples,
    send,
    serve_gateway,
    until,
)
from vigil.streams import ALERTS
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings


async def test_metrics_count_sockets_closes_frames_latency_and_rate_limits(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    settings = gateway_settings.model_copy(
        update={"rate_limit": "window", "rate_limit_messages": 2, "share_rate_limit": False}
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        serve_gateway(settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        await bus.js.add_stream(ALERTS.config(bus.subjects))
        async with connect(f"ws://{address}/ws") as refused:  # no credentials: 1008
            await asyncio.wait_for(refused.wait_closed(), 5)
        async with (
            connect(f"ws://{address}/ws?token={admin_token}") as a,
            connect(f"ws://{address}/ws?token={admin_token}") as b,
        ):
            for ws in (a, b):
                await receive(ws)
                await send(ws, {"type": "subscribe", "channel": "alerts"})
                await receive(ws)
            for n in range(3):
                await raise_alert(bus, n)
            for ws in (a, b):
                for _ in range(3):
                    await receive_until(ws, lambda m: m["type"] == "update")
            for _ in range(2):  # the second of these is over the limit of 2
                await send(a, {"type": "ping"})
                await receive_until(a, lambda m: m["type"] in {"pong", "error"})
            during = samples((await http.get("/metrics")).text)

        async def closed() -> Samples | None:  # the gateway notices the closes a moment later
            figures = samples((await http.get("/metrics")).text)
            return None if figures[("vigil_gateway_sockets", ())] else figures

        after = await until(closed, "the gateway to count the sockets closed", 5)

    assert during[("vigil_gateway_sockets", ())] == 2
    assert during[("vigil_gateway_socket_opens_total", ())] == 2
    assert during[("vigil_gateway_socket_closes_total", (("code", "1008"),))] == 1
    assert during[("vigil_gateway_messages_sent_total", (("kind", "stream"),))] == 6
    assert during[("vigil_gateway_bytes_sent_total", (("kind", "stream"),))] > 6 * 100
    assert during[("vigil_gateway_rate_limited_total", ())] == 1
    latency = ("vigil_gateway_delivery_latency_seconds_count", (("kind", "stream"),))
    assert during[latency] == 6
    within_a_second = (
        "vigil_gateway_delivery_latency_seconds_bucket",
        (("kind", "stream"), ("le", "1")),
    )
    assert during[within_a_second] == 6
    assert after[("vigil_gateway_sockets", ())] == 0
    assert after[("vigil_gateway_socket_closes_total", (("code", "1000"),))] == 2


async def test_metrics_need_no_credentials(
    auth_service: AuthService, gateway_settings: GatewaySettings
) -> None:
    async with serve_gateway(gateway_settings) as address, httpx.AsyncClient() as http:
        response = await http.get(f"http://{address}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "vigil_gateway_sockets 0.0" in response.text


async def test_metrics_carry_the_process_figures_and_readiness_every_service_reports(
    auth_service: AuthService, gateway_settings: GatewaySettings
) -> None:
    # The dashboards' memory, CPU and readiness panels read these from every service.
    async with serve_gateway(gateway_settings) as address, httpx.AsyncClient() as http:
        ready = samples((await http.get(f"http://{address}/metrics")).text)
    away = gateway_settings.model_copy(update={"nats_url": f"nats://127.0.0.1:{free_port()}"})
    async with serve_gateway(away, ready=False) as address, httpx.AsyncClient() as http:
        assert (await http.get(f"http://{address}/readyz")).status_code == 503
        unready = samples((await http.get(f"http://{address}/metrics")).text)
    assert ready[("vigil_service_ready", (("service", "gateway"),))] == 1
    assert ready[("process_resident_memory_bytes", ())] > 10 * 2**20
    assert ready[("process_cpu_seconds_total", ())] > 0
    assert ready[("process_open_fds", ())] > 0
    assert unready[("vigil_service_ready", (("service", "gateway"),))] == 0
