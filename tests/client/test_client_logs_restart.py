"""A real container's log lines, followed with the client while the gateway restarts:
every line once, in order, none missing (the lines written while no gateway held the
log lease come back as the collector's tail)."""

import asyncio

from tests.client_support import client_for, updates_until
from tests.conftest import collector_settings_for
from tests.docker_engine import Containers
from tests.support import NatsServer, free_port, run_collector, serve_gateway
from vigil.messages import LogBatch, Update
from vigil_auth.app import AuthService
from vigil_client import ConnectionState
from vigil_gateway.settings import GatewaySettings


def numbers(updates: list[Update]) -> list[int]:
    lines = [line for u in updates for line in LogBatch.model_validate(u.data).lines]
    return [int(line.text.split()[1]) for line in lines]


async def test_log_lines_follow_across_a_gateway_restart_once_each_and_in_order(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
) -> None:
    counter = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done"
    _, name = containers.run("restart", "sh", "-c", counter)
    collector = collector_settings_for(nats_server, prefix, docker="on", interval_s=5.0)
    port = free_port()
    # The first lines are written before anyone watches (the collector starts meanwhile):
    # a tail long enough to hold them all, whatever the machine's pace.
    gateway_settings = gateway_settings.model_copy(update={"log_tail": 10_000})
    async with run_collector(collector), client_for(f"127.0.0.1:{port}", admin_token) as client:
        async with serve_gateway(gateway_settings, port=port):
            logs = await client.subscribe("docker.logs", {"container": name}, since=0)
            before = await updates_until(logs, lambda seen: len(numbers(seen)) >= 20)
        async with asyncio.timeout(10):
            await client.wait_until(ConnectionState.RECONNECTING)
        await asyncio.sleep(1.0)  # about 20 lines written with no gateway up
        async with serve_gateway(gateway_settings, port=port):
            after = await updates_until(logs, lambda got: len(numbers(got)) >= 40)
    followed = numbers(before + after)
    assert followed == list(range(len(followed)))
    assert client.connections == 2
