"""compose.yaml for real: the images build here, the stack starts healthy, a client through
nginx gets metrics, Prometheus scrapes every service, `--scale gateway=3` spreads sockets,
and a gateway container killed under journal load costs its clients nothing: they
reconnect through nginx and resume from their cursor."""

import asyncio
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from tests.compose_stack import (
    ADMIN_PASSWORD,
    REPO_ROOT,
    ComposeStack,
    build_images,
    compose_available,
)
from tests.docker_engine import busybox_image, docker, ensure_dockerd
from tests.journal_clients import (
    ResumingClient,
    assert_every_load_event_held,
    journal_truth,
    publish_journal,
)
from tests.support import receive, receive_until, send, wait_for
from vigil.bus import Bus
from vigil.settings import VigilSettings
from vigil.streams import DEPLOY_EVENTS

pytestmark = pytest.mark.timeout(1500)  # the first test builds every image when cold

SPREAD_SOCKETS = 30
KILL_CLIENTS = 12
KILL_EVENTS = 1500
KILL_EVENTS_PER_S = 250.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    ensure_dockerd()
    compose_available()
    build_images()
    stack = ComposeStack(tmp_path_factory.mktemp("compose"))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def token(stack: ComposeStack) -> str:
    answer = httpx.post(
        f"http://{stack.address}/api/auth/token",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def test_the_stack_starts_healthy_and_a_client_through_nginx_gets_host_metrics(
    stack: ComposeStack, token: str
) -> None:
    for service in ("nats", "auth", "collector", "deployer", "gateway", "nginx", "prometheus"):
        containers = stack.containers(service)
        assert containers, f"no {service} container"
        assert {stack.health(c) for c in containers} == {"healthy"}, service
    assert len(stack.containers("gateway")) == 2  # replicas: 2
    for service in ("auth", "collector", "deployer", "gateway"):
        user = docker("inspect", "--format", "{{.Config.User}}", stack.containers(service)[0])
        assert user.strip() == "vigil"

    # As a page served through nginx would: the gateway checks Origin against Host.
    page = Origin(f"http://{stack.address}")
    async with connect(f"ws://{stack.address}/ws?token={token}", origin=page) as ws:
        assert (await receive(ws))["type"] == "connected"
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
    assert update["data"]["host"] == "docker1"
    assert update["data"]["cpu"]["percent"] >= 0

    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"http://{stack.address}/metrics")).status_code == 404
        dashboard = await http.get(f"http://{stack.address}/")
    assert dashboard.status_code == 200  # the gateway image serves the dashboard
    assert "<div id=" in dashboard.text


async def test_prometheus_scrapes_every_service_and_the_dashboard_queries_run(
    stack: ComposeStack,
) -> None:
    base = f"http://127.0.0.1:{stack.prometheus_port}/api/v1"
    wanted = {"gateway": 2, "collector": 1, "auth": 1, "deployer": 1, "prometheus": 1}
    async with httpx.AsyncClient(timeout=10) as http:
        up: dict[str, int] = {}
        async with asyncio.timeout(60):
            while up != wanted:
                targets = (await http.get(f"{base}/targets")).json()["data"]["activeTargets"]
                up = {}
                for target in targets:
                    if target["health"] == "up":
                        up[target["labels"]["job"]] = up.get(target["labels"]["job"], 0) + 1
                await asyncio.sleep(1)
        ready = (await http.get(f"{base}/query", params={"query": "vigil_service_ready"})).json()
        assert {r["metric"]["service"]: r["value"][1] for r in ready["data"]["result"]} == {
            "collector": "1",
            "auth": "1",
            "deployer": "1",
        }
        dashboard = json.loads((REPO_ROOT / "deploy/grafana/dashboards/vigil.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                answer = await http.get(f"{base}/query", params={"query": target["expr"]})
                assert answer.json()["status"] == "success", (panel["title"], answer.text)


async def test_scaled_to_three_gateways_and_two_deployers_nginx_spreads_sockets(
    stack: ComposeStack, token: str
) -> None:
    await asyncio.to_thread(stack.up, gateway=3, deployer=2)
    gateways = stack.containers("gateway")
    assert len(gateways) == 3
    assert len(stack.containers("deployer")) == 2
    sockets = [
        await connect(f"ws://{stack.address}/ws?token={token}") for _ in range(SPREAD_SOCKETS)
    ]
    try:
        for ws in sockets:
            assert (await receive(ws))["type"] == "connected"
        per_gateway = [await asyncio.to_thread(stack.gateway_sockets, c) for c in gateways]
    finally:
        for ws in sockets:
            await ws.close()
    assert sum(per_gateway) == SPREAD_SOCKETS
    # No stickiness: each replica takes its share (round robin, per nginx worker).
    assert min(per_gateway) >= SPREAD_SOCKETS // 6, per_gateway


async def test_a_gateway_killed_under_load_its_clients_resume_through_nginx_losing_nothing(
    stack: ComposeStack, token: str
) -> None:
    await asyncio.to_thread(stack.up, gateway=3)
    deploy_id, name = await finished_deploy(stack, token)
    publisher = Bus(
        VigilSettings(nats_url=stack.nats_url), name="test-load", streams=[DEPLOY_EVENTS]
    )
    await publisher.connect()
    tokens = await viewer_tokens(
        stack, token, KILL_CLIENTS
    )  # a user each: rate limits are per user
    clients = [ResumingClient([stack.address], t, deploy_id, 0) for t in tokens]
    subscribed = [asyncio.Event() for _ in clients]
    following = [asyncio.create_task(c.follow(s)) for c, s in zip(clients, subscribed, strict=True)]
    try:
        await wait_for(
            lambda: all(s.is_set() for s in subscribed),
            f"every client subscribed (errors: {[c.errors for c in clients]})",
            timeout=30,
        )
        publishing = asyncio.create_task(
            publish_journal(publisher, deploy_id, KILL_EVENTS, KILL_EVENTS_PER_S)
        )
        await wait_for(
            lambda: all(len(c.cursors) >= KILL_EVENTS // 3 for c in clients),
            "a third of the load at every client",
            timeout=60,
        )
        loads = {c: stack.gateway_sockets(c) for c in stack.containers("gateway")}
        victim = max(loads, key=lambda c: loads[c])
        docker("kill", victim)
        await asyncio.wait_for(publishing, 60)
        held = await journal_truth(publisher.js, publisher.subjects.deploy_events(deploy_id))
        for client in clients:
            client.stop_at = held[-1][0]
        async with asyncio.timeout(90):
            await asyncio.gather(*following)
    finally:
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        await publisher.close()
        docker("rm", "--force", name)

    assert_every_load_event_held(held, KILL_EVENTS)
    truth = [sequence for sequence, _ in held]
    reconnected = [c for c in clients if c.connections > 1]
    assert len(reconnected) == loads[victim] > 0
    for client in clients:
        assert client.problems == []
        assert client.cursors == truth  # the whole journal, in order, none twice


async def finished_deploy(stack: ComposeStack, token: str) -> tuple[str, str]:
    """A real deploy through nginx (busybox, present locally: no pull), run to its end."""
    name = f"{stack.project}-web"
    spec: dict[str, Any] = {
        "name": name,
        "image": await asyncio.to_thread(busybox_image),
        "command": ["sleep", "600"],
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://{stack.address}", timeout=10) as http:
        created = await http.post("/api/deploys", json=spec, headers=headers)
        assert created.status_code == 202, created.text
        deploy_id = str(created.json()["id"])
        async with asyncio.timeout(60):
            while True:
                record = (
                    await http.get(f"/api/deploys/{urllib.parse.quote(deploy_id)}", headers=headers)
                ).json()
                if record["state"] in {"succeeded", "failed", "cancelled"}:
                    break
                await asyncio.sleep(0.5)
    assert record["state"] == "succeeded", record
    return deploy_id, name


async def viewer_tokens(stack: ComposeStack, admin_token: str, count: int) -> list[str]:
    """Tokens of `count` new viewers, created and logged in through nginx."""
    tokens = []
    async with httpx.AsyncClient(base_url=f"http://{stack.address}", timeout=10) as http:
        for n in range(count):
            user = {"username": f"viewer{n}", "password": f"viewer-password-{n}"}
            created = await http.post(
                "/api/auth/users",
                json=user | {"roles": ["viewer"]},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            assert created.status_code == 201, created.text
            issued = await http.post("/api/auth/token", json=user)
            assert issued.status_code == 200, issued.text
            tokens.append(str(issued.json()["access_token"]))
    return tokens
