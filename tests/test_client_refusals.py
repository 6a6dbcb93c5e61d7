"""What the gateway refuses reaches the caller of the client as an error on that
subscription, the others and the connection going on; closing the client ends every
reader's loop."""

import asyncio

import httpx
import pytest

from tests.client_support import client_for, updates_until
from tests.support import raise_alert
from vigil.bus import Bus
from vigil.errors import InvalidName, UnknownChannel
from vigil.messages import ErrorCode
from vigil_client import ConnectionState, Refused, login


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
