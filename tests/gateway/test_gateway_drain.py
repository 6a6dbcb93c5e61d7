"""SIGTERM drains a gateway: not ready, new sockets refused, open ones closed with 1012
spread over the drain window, and clients reconnect to another replica."""

import asyncio
import os
import signal
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support import NatsServer, free_port, receive, serve_gateway
from vigil.busauth.permissions import ServiceRole
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

CLIENTS = 20
WINDOW_S = 2.0


async def close_time(ws: ClientConnection) -> tuple[int, float]:
    try:
        while True:
            await receive(ws, timeout=15)
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None
    return frame.code, time.monotonic()


async def wait_ready(http: httpx.AsyncClient, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the gateway process never became ready"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(90)
async def test_sigterm_drains_with_1012_over_the_window_and_clients_move_on(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    port = free_port()
    env = os.environ | {
        **nats_server.service_env(ServiceRole.GATEWAY, prefix),
        "VIGIL_GATEWAY_PORT": str(port),
        "VIGIL_GATEWAY_DRAIN_WINDOW_S": str(WINDOW_S),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil_gateway", env=env, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
            serve_gateway(gateway_settings) as other,
        ):
            await wait_ready(http)
            sockets = [
                await connect(f"ws://127.0.0.1:{port}/ws?token={admin_token}")
                for _ in range(CLIENTS)
            ]
            for ws in sockets:
                assert (await receive(ws))["type"] == "connected"
            closes = [asyncio.create_task(close_time(ws)) for ws in sockets]

            process.send_signal(signal.SIGTERM)
            first = await asyncio.wait(closes, return_when=asyncio.FIRST_COMPLETED)
            assert first[0]
            assert (await http.get("/readyz")).status_code == 503
            async with connect(f"ws://127.0.0.1:{port}/ws?token={admin_token}") as late:
                late_code, _ = await close_time(late)
            assert late_code == 1012

            results = await asyncio.gather(*closes)
            assert {code for code, _ in results} == {1012}
            times = sorted(at for _, at in results)
            assert times[-1] - times[0] >= WINDOW_S / 2  # spread, not all at once

            for _ in range(CLIENTS):  # every client finds a home on the other replica
                async with connect(f"ws://{other}/ws?token={admin_token}") as moved:
                    assert (await receive(moved))["type"] == "connected"

        assert await asyncio.wait_for(process.wait(), 20) in (0, -signal.SIGTERM)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
