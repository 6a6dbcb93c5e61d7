"""A running single-node compose stack switched to the NATS cluster keeps its data.

As README says: `docker compose up -d --wait`, users and deploys made, then
`docker compose -f compose.yaml -f compose.nats-cluster.yaml up -d --wait`. `nats` keeps
its name (nats-1) and store and is tagged the seed; the setup job adopts every stream and
bucket there and brings each to three replicas in place. Afterwards the user logs in, the
deploy is listed, and every node holds every stream.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compose_stack import ADMIN_PASSWORD, ComposeStack, build_images, compose_available
from tests.docker_engine import busybox_image, docker, ensure_dockerd

pytestmark = pytest.mark.timeout(1500)  # builds every image when cold

CLUSTER = ("compose.nats-cluster.yaml",)
PASSWORD = "switch-password-1"
JSZ = (
    "import urllib.request as u; "
    "print(u.urlopen('http://127.0.0.1:8222/jsz?streams=true&config=true').read().decode())"
)


@pytest.fixture(scope="module")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    ensure_dockerd()
    compose_available()
    build_images()
    stack = ComposeStack(tmp_path_factory.mktemp("compose-switch"))
    try:
        stack.up()
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", overlays=CLUSTER)
        made = docker("ps", "-aq", "--filter", f"label=vigil-test-switch={stack.project}").split()
        if made:  # what the test's deploy started
            docker("rm", "--force", *made)


def streams_of(container: str) -> dict[str, dict[str, Any]]:
    """What one NATS node holds: each stream's config and state, by name."""
    jsz = json.loads(docker("exec", container, "python3", "-c", JSZ))
    details = [s for account in jsz.get("account_details", []) for s in account["stream_detail"]]
    return {s["name"]: s for s in details}


async def deploy_done(http: httpx.AsyncClient, deploy_id: str, within_s: float = 120) -> str:
    deadline = time.monotonic() + within_s
    while True:
        record = (await http.get(f"/api/deploys/{deploy_id}")).json()
        if record["state"] in ("succeeded", "failed", "cancelled"):
            return str(record["state"])
        assert time.monotonic() < deadline, f"deploy {deploy_id} still {record['state']}"
        await asyncio.sleep(0.5)


async def test_switching_a_running_stack_to_the_nats_cluster_keeps_users_and_deploys(
    single_node: ComposeStack,
) -> None:
    stack = single_node
    base = f"http://{stack.address}"
    image = await asyncio.to_thread(busybox_image)
    username = f"kept-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = await http.post(
            "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert admin.status_code == 200, admin.text
        http.headers["Authorization"] = f"Bearer {admin.json()['access_token']}"
        user = {"username": username, "password": PASSWORD, "roles": ["operator"]}
        created = await http.post("/api/auth/users", json=user)
        assert created.status_code == 201, created.text
        spec = {
            "host": "docker1",
            "name": f"switch-{uuid.uuid4().hex[:6]}",
            "image": image,
            "command": ["sleep", "3600"],
            "labels": {"vigil-test-switch": stack.project},
            "health": {"kind": "running", "seconds": 1},
        }
        started = await http.post("/api/deploys", json=spec)
        assert started.status_code == 202, started.text
        deploy_id = started.json()["id"]
        assert await deploy_done(http, deploy_id) == "succeeded"

    switch_began = time.monotonic()
    await asyncio.to_thread(
        stack.compose, "up", "--detach", "--no-build", "--wait", overlays=CLUSTER
    )
    switch_s = time.monotonic() - switch_began

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await http.post(
            "/api/auth/token", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200, f"the user made before the switch: {login.text}"
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        listed = await http.get("/api/deploys")
        assert listed.status_code == 200, listed.text
        assert deploy_id in {d["id"] for d in listed.json()["deploys"]}, listed.text
        journal = await http.get(f"/api/deploys/{deploy_id}")
        assert journal.json()["state"] == "succeeded"

    nodes = [
        container
        for service in ("nats", "nats-2", "nats-3")
        for container in stack.compose("ps", "--quiet", service, overlays=CLUSTER).split()
    ]
    assert len(nodes) == 3
    counts = await held_alike(nodes, KEPT)
    print(f"switched in {switch_s:.0f} s; messages on each of the 3 nodes: {counts}")
    assert counts["KV_VIGIL_AUTH_USERS"] >= 2  # the admin and the user made before
    assert counts["KV_VIGIL_DEPLOYS"] >= 1
    assert counts["VIGIL_DEPLOY_EVENTS"] >= 3  # the deploy's journal, every step
    replicas = {name: s["config"]["num_replicas"] for name, s in streams_of(nodes[0]).items()}
    assert set(replicas.values()) == {3}, replicas


KEPT = ("KV_VIGIL_AUTH_USERS", "KV_VIGIL_DEPLOYS", "VIGIL_DEPLOY_EVENTS")


async def held_alike(
    nodes: list[str], names: tuple[str, ...], within_s: float = 30
) -> dict[str, int]:
    """The messages of each stream of `names`, once every node holds as many (replicas
    catch up from the leader)."""
    deadline = time.monotonic() + within_s
    while True:
        held = [await asyncio.to_thread(streams_of, node) for node in nodes]
        counts = {
            name: [node.get(name, {}).get("state", {}).get("messages") for node in held]
            for name in names
        }
        if all(len(set(c)) == 1 for c in counts.values()):
            return {name: c[0] for name, c in counts.items()}
        assert time.monotonic() < deadline, f"the nodes hold different counts: {counts}"
        await asyncio.sleep(1)
