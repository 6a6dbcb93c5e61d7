"""A channel whose feed NATS is slow to start holds up that channel's subscribers only.

The first subscriber of a channel on a gateway starts its feed, which takes NATS round
trips (the stream's window, then a consumer); while a cluster elects a stream's new
leader those can wait for seconds. Here NATS itself makes the alerts stream that slow
for the gateway: its user may not ask for that stream's info, so the request goes
unanswered until the client's 5 s timeout, again at every retry.
"""

import asyncio
from pathlib import Path

from websockets.asyncio.client import connect

from tests.conftest import ADMIN_PASSWORD
from tests.support import (
    NatsServer,
    auth_settings_for,
    login,
    receive,
    receive_until,
    run_auth,
    send,
    serve_gateway,
)
from vigil.streams import ALERTS
from vigil.subjects import Subjects
from vigil_gateway.settings import GatewaySettings

SERVICES = "services:services-password"
GATEWAY = "gateway:gateway-password"


def nats_config(prefix: str) -> str:
    slow = f"$JS.API.STREAM.INFO.{Subjects(prefix).stream_name(ALERTS.base_name)}"
    services, services_password = SERVICES.split(":")
    gateway, gateway_password = GATEWAY.split(":")
    return f"""
authorization {{
  users = [
    {{user: {services}, password: {services_password}}}
    {{user: {gateway}, password: {gateway_password},
      permissions: {{publish: {{deny: ["{slow}"]}}}}}}
  ]
}}
"""


async def test_a_channel_slow_to_start_holds_up_no_other_channel(
    tmp_path: Path, prefix: str
) -> None:
    nats = NatsServer(store_dir=tmp_path / "nats", config=nats_config(prefix), user=SERVICES)
    nats.start()
    try:
        gateway = GatewaySettings(nats_url=nats.url_as(GATEWAY), subject_prefix=prefix)
        async with (
            run_auth(auth_settings_for(nats, prefix, admin_password=ADMIN_PASSWORD)),
            serve_gateway(gateway) as address,
        ):
            token = (await login(nats, prefix, "admin", ADMIN_PASSWORD)).access_token
            url = f"ws://{address}/ws?token={token}"
            async with connect(url) as slow, connect(url) as other:
                await receive(slow)  # welcome
                await receive(other)
                await send(slow, {"type": "subscribe", "channel": "alerts"})
                slow_subscribed = asyncio.create_task(
                    receive_until(slow, lambda m: m["type"] == "subscribed", timeout=15)
                )
                await asyncio.sleep(0.5)  # its feed is starting: NATS will not answer
                await send(other, {"type": "subscribe", "channel": "host.metrics"})
                subscribed = await receive_until(
                    other, lambda m: m["type"] == "subscribed", timeout=3
                )
                assert subscribed["channel"] == "host.metrics"
                assert not slow_subscribed.done()  # its start still waits on NATS
                # it is told once that start gives up (tried again meanwhile)
                assert (await slow_subscribed)["channel"] == "alerts"
    finally:
        nats.stop()
