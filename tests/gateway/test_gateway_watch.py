"""The gateway raises alerts on itself: sockets near the limit, sends failing."""

from websockets.asyncio.client import connect

from tests.support import receive, receive_until, send, serve_gateway
from vigil.messages import AlertState
from vigil_auth.app import AuthService
from vigil_gateway.replica.self_watch import SelfWatch
from vigil_gateway.settings import GatewaySettings


def watch() -> SelfWatch:
    return SelfWatch(gateway="g1", max_sockets=100, sockets_ratio=0.9, send_failures_per_check=5)


def test_sockets_near_the_limit_raise_and_well_below_resolve() -> None:
    w = watch()
    assert w.check(sockets=89, send_failures_total=0) == []
    [raised] = w.check(sockets=90, send_failures_total=0)
    assert (raised.state, raised.metric, raised.source) == (AlertState.RAISED, "sockets", "gateway")
    assert w.check(sockets=85, send_failures_total=0) == []  # hysteresis: not yet
    [resolved] = w.check(sockets=80, send_failures_total=0)
    assert (resolved.state, resolved.id) == (AlertState.RESOLVED, "gateway:g1:sockets")


def test_send_failures_climbing_raise_and_a_quiet_interval_resolves() -> None:
    w = watch()
    assert w.check(sockets=0, send_failures_total=4) == []
    [raised] = w.check(sockets=0, send_failures_total=10)  # 6 in this interval
    assert (raised.metric, raised.value) == ("send_failures", 6)
    assert w.check(sockets=0, send_failures_total=11) == []
    [resolved] = w.check(sockets=0, send_failures_total=11)
    assert resolved.state is AlertState.RESOLVED


async def test_a_nearly_full_gateway_says_so_on_the_alerts_channel(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    small = gateway_settings.model_copy(
        update={"max_connections": 2, "alert_sockets_ratio": 1.0, "watch_interval_s": 0.2}
    )
    async with serve_gateway(small) as address:
        async with connect(f"ws://{address}/ws?token={admin_token}") as watcher:
            await receive(watcher)
            await send(watcher, {"type": "subscribe", "channel": "alerts"})
            await receive(watcher)
            async with connect(f"ws://{address}/ws?token={admin_token}") as second:
                await receive(second)
                alert = await receive_until(watcher, lambda m: m["type"] == "update", timeout=5)
    data = alert["data"]
    assert (data["source"], data["metric"], data["state"]) == ("gateway", "sockets", "raised")
    assert "sockets reached 2" in data["message"]
