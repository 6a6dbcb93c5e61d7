"""Scale-out without Docker: gateway processes on a 3-node NATS cluster (JetStream R3) on
loopback. One NATS node (the leader of the journal's stream) is killed under load: no
journal event is lost and every client keeps receiving, in order, without a gap."""

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.journal_clients import (
    ResumingClient,
    assert_every_load_event_held,
    journal_truth,
    publish_journal,
    queued,
)
from tests.nats_cluster import NatsCluster
from tests.support import free_port, run_auth, signing_key_secret_file, wait_for
from vigil import ctl
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import Login
from vigil.operations import Auth
from vigil.streams import DEPLOY_EVENTS
from vigil_auth.settings import AuthSettings

GATEWAYS = 2
CLIENTS = 10
EVENTS = 1500
EVENTS_PER_S = 250.0
DEPLOY_ID = "loadtest1"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextlib.asynccontextmanager
async def gateway_processes(
    cluster: NatsCluster, prefix: str, count: int
) -> AsyncIterator[list[str]]:
    """`count` processes of `python -m vigil_gateway`; yields their addresses once ready."""
    ports = [free_port() for _ in range(count)]
    env = os.environ | {
        **cluster.service_env(ServiceRole.GATEWAY, prefix),
        "VIGIL_STREAM_REPLICAS": "3",
        "VIGIL_GATEWAY_DRAIN_WINDOW_S": "0",
        "VIGIL_GATEWAY_RATE_LIMIT_MESSAGES": "1000",
    }
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vigil_gateway",
            env=env | {"VIGIL_GATEWAY_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        async with httpx.AsyncClient() as http:
            for port in ports:
                await wait_for_ready(http, f"http://127.0.0.1:{port}/readyz")
        yield [f"127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), 30)


async def wait_for_ready(http: httpx.AsyncClient, url: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)


async def test_one_nats_node_of_three_killed_under_load_loses_no_journal_event(
    cluster: NatsCluster, prefix: str
) -> None:
    cluster.provision(prefix, stream_replicas=3)  # every stream kept on all three nodes
    publisher = Bus(cluster.harness(prefix), name="test-publisher", streams=[DEPLOY_EVENTS])
    await publisher.connect()
    try:
        async with (
            run_auth(
                AuthSettings(
                    **cluster.service(ServiceRole.AUTH, prefix),
                    stream_replicas=3,
                    admin_password=ADMIN_PASSWORD,
                    signing_key_secret_file=signing_key_secret_file(),
                )
            ),
            gateway_processes(cluster, prefix, GATEWAYS) as addresses,
        ):
            login = Login(username="admin", password=ADMIN_PASSWORD)
            token = (await ctl.call(publisher, Auth.LOGIN, login)).access_token
            stream = publisher.subjects.stream_name(DEPLOY_EVENTS.base_name)
            info = await publisher.js.stream_info(stream)
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            leader = info.cluster.leader
            assert leader is not None

            await publisher.publish(publisher.subjects.deploy_events(DEPLOY_ID), queued(DEPLOY_ID))
            clients = [ResumingClient(addresses, token, DEPLOY_ID, n) for n in range(CLIENTS)]
            subscribed = [asyncio.Event() for _ in clients]
            following = [
                asyncio.create_task(c.follow(s)) for c, s in zip(clients, subscribed, strict=True)
            ]
            try:
                async with asyncio.timeout(15):
                    await asyncio.gather(*(s.wait() for s in subscribed))
                publishing = asyncio.create_task(
                    publish_journal(publisher, DEPLOY_ID, EVENTS, EVENTS_PER_S)
                )
                await wait_for(
                    lambda: all(len(c.cursors) >= EVENTS // 3 for c in clients),
                    f"a third of the journal at every client ({[len(c.cursors) for c in clients]})",
                    timeout=30,
                )
                cluster.node(leader).kill()  # the node that leads the journal's stream
                await asyncio.wait_for(publishing, 60)
                held = await journal_truth(
                    publisher.js, publisher.subjects.deploy_events(DEPLOY_ID)
                )
                for client in clients:
                    client.stop_at = held[-1][0]
                async with asyncio.timeout(60):
                    await asyncio.gather(*following)
            finally:
                for task in following:
                    task.cancel()
                await asyncio.gather(*following, return_exceptions=True)
    finally:
        await publisher.close()

    assert_every_load_event_held(held, EVENTS)
    truth = [sequence for sequence, _ in held]
    for client in clients:
        assert client.problems == []
        assert client.cursors == truth  # every event, in order, none twice
