"""A channel whose feed NATS is slow to start holds up that channel's subscribers only.

The first subscriber of a channel on a gateway starts its feed, which takes NATS round
trips (the stream's window, then a consumer); while a cluster elects a stream's new
leader those can wait for seconds. Here NATS itself makes the alerts stream that slow
for the gateway: its user may not create consumers of that stream, so the request goes
unanswered until the client's 5 s timeout, again at every retry.
"""

import asyncio
import dataclasses

import pytest
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
from vigil.busauth.permissions import ServiceRole, permissions
from vigil.streams import ALERTS
from vigil.subjects import Subjects
from vigil_gateway.settings import GatewaySettings


def slow_gateway(nats: NatsServer, prefix: str) -> GatewaySettings:
    """A gateway whose NATS user may not create consumers of the alerts stream: each
    try to start that channel's feed goes unanswered until the client's timeout."""
    subjects = Subjects(prefix)
    alerts = ALERTS.stream(subjects)
    allowed = permissions(ServiceRole.GATEWAY, subjects)
    refused = f"$JS.API.CONSUMER.CREATE.{alerts}"
    kept = tuple(subject for subject in allowed.publish if not subject.startswith(refused))
    slow = dataclasses.replace(allowed, publish=kept)
    creds = nats.creds(nats.trust.creds("slow-gateway", slow))
    nats.provision(prefix)
    return GatewaySettings(nats_url=nats.url, nats_creds=creds, subject_prefix=prefix)


@pytest.mark.bus_refusals
async def test_a_channel_slow_to_start_holds_up_no_other_channel(
    nats_server: NatsServer, prefix: str
) -> None:
    nats = nats_server
    gateway = slow_gateway(nats, prefix)
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
            subscribed = await receive_until(other, lambda m: m["type"] == "subscribed", timeout=3)
            assert subscribed["channel"] == "host.metrics"
            assert not slow_subscribed.done()  # its start still waits on NATS
            # it is told once that start gives up (tried again meanwhile)
            assert (await slow_subscribed)["channel"] == "alerts"
