"""Rules on the gateway itself, with a real NATS, real gateways and a real alerter: a
rule on a replica's sockets raises when enough WebSockets are open and resolves when
they close (the gateway raising nothing itself); a replica killed goes stale, one
stopped cleanly does not."""

import asyncio
import contextlib
import os
import signal
import sys

from websockets.asyncio.client import connect

from tests.alerter_support import make_rule
from tests.docker_support import heard, next_that
from tests.support import NatsServer, bus_client, receive, serve_gateway, wait_for
from vigil.busauth.permissions import ServiceRole
from vigil.messages import AlertChanged, AlertSource, AlertState
from vigil_alerter.app import AlerterService
from vigil_gateway.settings import GatewaySettings

SAMPLE_S = 0.2  # the replicas sample this often here (5 s by default)


async def test_a_sockets_rule_raises_with_enough_sockets_open_and_resolves_when_they_close(
    alerter: AlerterService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    settings = gateway_settings.model_copy(
        update={"replica": "gw-busy", "sample_interval_s": SAMPLE_S, "max_connections": 10}
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged) as alerts,
        heard(bus, bus.subjects.alerts(AlertSource.GATEWAY), AlertChanged) as own,
        serve_gateway(settings) as address,
    ):
        rule = await make_rule(
            bus,
            admin_token,
            name="busy gateway",
            target={"kind": "gateway", "replicas": "gw-*"},
            condition={"kind": "metric", "metric": "sockets", "threshold": 2},
            recovery_s=0.5,
        )
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read")
        async with contextlib.AsyncExitStack() as sockets:
            for _ in range(3):
                ws = await sockets.enter_async_context(
                    connect(f"ws://{address}/ws?token={admin_token}")
                )
                assert (await receive(ws))["type"] == "connected"
            raised = await next_that(alerts, lambda a: a.rule == rule.id, "the raise", 10)
        assert raised.id == f"rule:{rule.id}:gateway:gw-busy"
        assert (raised.state, raised.host, raised.value, raised.threshold) == (
            AlertState.RAISED,
            "gw-busy",
            3,
            2,
        )
        assert raised.message == "busy gateway: sockets of gateway gw-busy is 3, over 2"
        resolved = await next_that(alerts, lambda a: a.id == raised.id, "the resolve", 10)
        assert resolved.state is AlertState.RESOLVED
        assert own.empty()  # the gateway raises nothing of its own any more


async def test_a_replica_killed_goes_stale_and_one_stopped_cleanly_does_not(
    alerter: AlerterService, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    env = os.environ | {
        **nats_server.service_env(ServiceRole.GATEWAY, prefix),
        "VIGIL_GATEWAY_PORT": "0",
        "VIGIL_GATEWAY_SAMPLE_INTERVAL_S": str(SAMPLE_S),
        "VIGIL_GATEWAY_DRAIN_WINDOW_S": "0",
    }
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts(AlertSource.RULE), AlertChanged) as alerts,
    ):
        rule = await make_rule(
            bus,
            admin_token,
            name="gateway gone",
            target={"kind": "gateway"},
            condition={"kind": "stale", "after_s": 5},
        )
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read")
        processes = {
            name: await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "vigil_gateway",
                env=env | {"VIGIL_GATEWAY_REPLICA": name},
                stderr=asyncio.subprocess.DEVNULL,
            )
            for name in ("gw-killed", "gw-leaving")
        }
        try:
            sources = alerter.sources
            assert sources is not None
            await wait_for(
                lambda: {"gateway:gw-killed", "gateway:gw-leaving"} <= sources.held,
                "both replicas sampling",
                30,
            )
            processes["gw-killed"].kill()
            processes["gw-leaving"].send_signal(signal.SIGTERM)
            for process in processes.values():
                await asyncio.wait_for(process.wait(), 20)
            loop = asyncio.get_running_loop()
            stopped = loop.time()
            stale = await next_that(alerts, lambda a: a.rule == rule.id, "the stale alert", 15)
            assert loop.time() - stopped >= 4  # silent for its after_s first
            assert stale.id == f"rule:{rule.id}:stale:gateway:gw-killed"
            assert (stale.state, stale.host, stale.metric) == (
                AlertState.RAISED,
                "gw-killed",
                "stale",
            )
            assert stale.message.startswith("gateway gone: gateway gw-killed silent for ")
            await asyncio.sleep(2.0)  # the leaving one went quiet at the same time
            assert alerts.empty()
        finally:
            for process in processes.values():
                if process.returncode is None:
                    process.kill()
                    await process.wait()
