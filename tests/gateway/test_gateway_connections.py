"""Admins see every socket on every replica, and joins and leaves as they happen."""

import httpx
from websockets.asyncio.client import connect

from tests.support import receive, receive_until, send, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings


async def test_the_connection_list_gathers_every_replica(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as one,
        serve_gateway(gateway_settings) as two,
        httpx.AsyncClient(base_url=f"http://{one}") as http,
        connect(f"ws://{one}/ws?token={admin_token}") as a,
        connect(f"ws://{two}/api/system/ws?token={admin_token}") as b,
    ):
        a_id = (await receive(a))["connection_id"]
        await send(a, {"type": "subscribe", "channel": "alerts"})
        await receive(a)
        await send(b, {"type": "ping"})
        await receive(b)
        listed = await http.get(
            "/api/connections", headers={"Authorization": f"Bearer {admin_token}"}
        )
    body = listed.json()
    assert listed.status_code == 200
    assert body["gateways"] == 2
    by_id = {c["id"]: c for c in body["connections"]}
    assert len(by_id) == 2
    assert len({c["gateway_id"] for c in by_id.values()}) == 2
    mine = by_id[a_id]
    assert (mine["principal_name"], mine["address"], mine["subscriptions"]) == (
        "admin",
        "127.0.0.1",
        ["alerts"],
    )
    assert mine["sent"] >= 2  # connected, subscribed
    [other] = [c for c in by_id.values() if c["id"] != a_id]
    assert other["subscriptions"] == ["system"]


async def test_only_admins_list_or_watch_connections(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        admin = {"Authorization": f"Bearer {admin_token}"}
        created = await http.post(
            "/api/auth/keys", json={"name": "viewer", "role": "viewer"}, headers=admin
        )
        viewer = {"X-API-Key": created.json()["api_key"]}
        assert (await http.get("/api/connections", headers=viewer)).status_code == 403
        async with connect(f"ws://{address}/ws", additional_headers=viewer) as ws:
            await receive(ws)
            await send(ws, {"type": "subscribe", "channel": "connections"})
            refused = await receive(ws)
    assert (refused["code"], refused["channel"]) == ("FORBIDDEN", "connections")


async def test_the_connections_channel_shows_joins_and_leaves(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as admin,
    ):
        await receive(admin)
        await send(admin, {"type": "subscribe", "channel": "connections"})
        await receive(admin)
        async with connect(f"ws://{address}/ws?token={admin_token}") as visitor:
            visitor_id = (await receive(visitor))["connection_id"]
        opened = await receive_until(admin, lambda m: m.get("channel") == "connections")
        closed = await receive_until(admin, lambda m: m.get("channel") == "connections")
    assert (opened["data"]["event"], opened["data"]["connection"]["id"]) == ("opened", visitor_id)
    assert (closed["data"]["event"], closed["data"]["code"]) == ("closed", 1000)
    assert opened["cursor"] < closed["cursor"]
