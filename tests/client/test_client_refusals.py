"""What the gateway refuses reaches the caller of the client as an error on that
subscription, the others and the connection going on; closing the client ends every
reader's loop."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.client_support import client_for, events, proxy_to, updates_until
from tests.support import raise_alert, serve_gateway
from vigil.bus import Bus
from vigil.errors import InvalidName, UnknownChannel
from vigil.messages import Error, ErrorCode
from vigil_auth.app import AuthService
from vigil_client import ConnectionRefused, ConnectionState, Refused, TransportKind, login
from vigil_gateway.settings import GatewaySettings


async def a_viewer(gateway: str, admin_token: str) -> str:
    """The access token of a new user who may only read."""
    user = {"username": "vera", "password": "viewer-password", "roles": ["viewer"]}
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as http:
        made = await http.post(
            "/api/auth/users", json=user, headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert made.status_code == 201, made.text
    return (await login(f"http://{gateway}", "vera", "viewer-password")).access_token


async def test_refused_subscriptions_raise_their_code_and_the_rest_go_on(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    viewer = await a_viewer(gateway, admin_token)
    async with client_for(gateway, viewer) as client:
        alerts = await client.subscribe("alerts")
        logs = await client.subscribe("docker.logs", {"container": "nosuchcontainer"})
        admins_only = await client.subscribe("connections")
        for refused, code in ((logs, ErrorCode.NOT_FOUND), (admins_only, ErrorCode.FORBIDDEN)):
            async with asyncio.timeout(10):
                with pytest.raises(Refused) as error:
                    await refused.next()
            assert error.value.code == code
        await raise_alert(alerts_bus, 1)
        (alert,) = await updates_until(alerts, lambda seen: len(seen) == 1)
        assert alert.data["message"] == "alert 1"
        assert (client.state, client.connections) == (ConnectionState.LIVE, 1)

        with pytest.raises(UnknownChannel, match="no such channel"):
            await client.subscribe("no.such.channel")
        with pytest.raises(InvalidName):
            await client.subscribe("docker.logs", {"container": "a*b"})
        with pytest.raises(ValueError, match="deltas are for state channels"):
            await client.subscribe("deploy", {"id": "d1"}, delta=True)


async def test_closing_the_client_ends_its_readers(gateway: str, admin_token: str) -> None:
    client = client_for(gateway, admin_token)
    async with client:
        alerts = await client.subscribe("alerts")
        reader = asyncio.create_task(anext(alerts))
        await asyncio.sleep(0)
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(5):
            await reader
    assert client.state is ConnectionState.CLOSED


# -- refusals that were swallowed: rate limits, event streams, handshakes ----------------


@contextlib.asynccontextmanager
async def gateway_with(settings: GatewaySettings, **changes: object) -> AsyncIterator[str]:
    """A gateway of its own, with `changes` to the test's settings."""
    async with serve_gateway(settings.model_copy(update=changes)) as address:
        yield address


async def test_a_subscription_rate_limited_past_the_clients_patience_is_refused(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    # One subscribe, then one more every 1000 s: past the client's 60 s of patience.
    limits = {"rate_limit_subscribe_burst": 1, "rate_limit_subscribe_per_s": 0.001}
    async with (
        gateway_with(gateway_settings, **limits) as gateway,
        client_for(gateway, admin_token) as client,
    ):
        alerts = await client.subscribe("alerts")  # the budget's one subscribe
        async with asyncio.timeout(10):
            await alerts.until_accepted()
        limited = await client.subscribe("alerts", {"source": "docker"})
        async with asyncio.timeout(10):
            with pytest.raises(Refused) as refused:
                await limited.next()
        assert refused.value.code == ErrorCode.RATE_LIMITED
        assert "more than 1 requests at once" in refused.value.message
        assert refused.value.retry_after_s is not None
        assert refused.value.retry_after_s >= 900
        assert not alerts.ended
        assert client.state is ConnectionState.LIVE


async def test_a_rate_limited_subscription_is_told_then_made_once_the_gateway_lets_it(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    alerts_bus: Bus,
) -> None:
    # One subscribe, then one more every 10 s: within the client's patience.
    limits = {"rate_limit_subscribe_burst": 1, "rate_limit_subscribe_per_s": 0.1}
    async with (
        gateway_with(gateway_settings, **limits) as gateway,
        client_for(gateway, admin_token) as client,
    ):
        first = await client.subscribe("alerts", {"source": "docker"})
        async with asyncio.timeout(10):
            await first.until_accepted()
        limited = await client.subscribe("alerts", {"source": "host"})
        (notice,) = await events(limited, 1)
        assert isinstance(notice, Error)
        assert notice.code == ErrorCode.RATE_LIMITED
        assert notice.retry_after_s is not None
        assert 0 < notice.retry_after_s <= 10.0
        async with asyncio.timeout(20):  # made again after the wait the gateway gave
            await limited.until_accepted()
        await raise_alert(alerts_bus, 1)
        (alert,) = await updates_until(limited, lambda seen: len(seen) == 1)
        assert alert.data["message"] == "alert 1"


async def test_over_event_streams_a_channel_refused_once_open_raises_its_code(
    gateway: str, admin_token: str
) -> None:
    async with (
        proxy_to(gateway, block_websocket=True) as proxy,
        client_for(proxy.address, admin_token, fallback_after=1) as client,
    ):
        async with asyncio.timeout(10):
            await client.wait_until(ConnectionState.FALLBACK, transport=TransportKind.SSE)
        # From the oldest line kept: no poll first, the event stream itself refuses.
        missing = await client.subscribe("docker.logs", {"container": "nosuchcontainer"}, since=0)
        async with asyncio.timeout(10):
            with pytest.raises(Refused) as refused:
                await missing.next()
        assert refused.value.code == ErrorCode.NOT_FOUND
        assert "nosuchcontainer" in refused.value.message


async def test_a_user_over_the_socket_limit_is_refused_over_sockets_and_streams(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with gateway_with(gateway_settings, max_connections_per_user=1) as gateway:
        url = f"ws://{gateway}/ws?token={admin_token}"
        async with connect(url, proxy=None) as held:
            assert json.loads(await held.recv())["type"] == "connected"
            async with client_for(gateway, admin_token) as client:
                alerts = await client.subscribe("alerts")
                async with asyncio.timeout(10):
                    with pytest.raises(ConnectionRefused) as refused:
                        await alerts.next()
                assert (refused.value.code, client.state) == ("1008", ConnectionState.CLOSED)
                assert "already holds 1 sockets" in refused.value.message
                assert client.failure is refused.value

            async with (
                proxy_to(gateway, block_websocket=True) as proxy,
                client_for(proxy.address, admin_token, fallback_after=1) as client,
            ):
                alerts = await client.subscribe("alerts")
                async with asyncio.timeout(10):
                    with pytest.raises(Refused) as over_sse:
                        await alerts.next()
                assert over_sse.value.code == ErrorCode.LIMIT_REACHED
