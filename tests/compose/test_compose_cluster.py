"""compose.nats-cluster.yaml for real: three routed NATS nodes, every stream and bucket
replicated to all three, the services on the cluster, clients served through nginx."""

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.compose_stack import ADMIN_PASSWORD, ComposeStack, build_images, compose_available
from tests.docker_engine import docker, ensure_dockerd
from tests.support import receive, receive_until, send

pytestmark = pytest.mark.timeout(1500)  # builds every image when cold


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    ensure_dockerd()
    compose_available()
    build_images()
    files = ("compose.yaml", "compose.nats-cluster.yaml")
    stack = ComposeStack(tmp_path_factory.mktemp("compose-cluster"), files)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


async def test_the_cluster_variant_replicates_every_stream_three_times_and_serves_clients(
    cluster_stack: ComposeStack,
) -> None:
    stack = cluster_stack
    nodes = [c for service in ("nats", "nats-2", "nats-3") for c in stack.containers(service)]
    assert len(nodes) == 3
    read = (
        "import urllib.request as u; "
        "print(u.urlopen('http://127.0.0.1:8222/jsz?streams=true&config=true').read().decode())"
    )
    jsz = json.loads(docker("exec", nodes[0], "python3", "-c", read))
    assert jsz["meta_cluster"]["cluster_size"] == 3
    streams = [s for account in jsz["account_details"] for s in account["stream_detail"]]
    names = {s["name"] for s in streams}
    assert {"VIGIL_LATEST", "VIGIL_DEPLOY_EVENTS", "KV_VIGIL_AUTH_USERS"} <= names
    assert {s["name"]: s["config"]["num_replicas"] for s in streams} == dict.fromkeys(names, 3)

    async with httpx.AsyncClient(timeout=10) as http:
        issued = await http.post(
            f"http://{stack.address}/api/auth/token",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
    assert issued.status_code == 200, issued.text
    async with connect(f"ws://{stack.address}/ws?token={issued.json()['access_token']}") as ws:
        assert (await receive(ws))["type"] == "connected"
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
    assert update["data"]["host"] == "docker1"
