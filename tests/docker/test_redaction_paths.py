"""Log redaction on every path a container's or a pod's line takes to a client (issue
#11's attacks): the socket endpoints, the `docker.logs` channel, its SSE and polling
twins, scroll-back pages (read from the engine or the Kubernetes API, not from
JetStream) and a merged view. The collector redacts before a line leaves it; this
proves no path goes around that."""

import json
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.docker.test_docker_history import first_event
from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack, known
from tests.k8s_cluster import Cluster
from tests.k8s_support import container, gateway_over, k8s_settings, listed_pods, run_pod
from tests.support import (
    NatsServer,
    receive,
    receive_until,
    send,
    wait_for,
)
from vigil_gateway.settings import GatewaySettings

SECRETS = {
    "postgres://app:hunter2@db:5432/orders": "hunter2",
    "Authorization: Bearer abc.def.ghijklmnopqrst": "ghijklmnop",
    "key AKIAIOSFODNN7EXAMPLE in use": "AKIAIOSFODNN7",
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU": "eyJzdWIi",
}
SCRIPT = "; ".join(
    [*(f"echo '{line}'" for line in SECRETS), "echo done", "sleep 3600"]
)  # fmt: skip


def texts(lines: list[dict[str, Any]]) -> list[str]:
    return [line["text"] for line in lines]


def assert_redacted(path: str, seen: list[str]) -> None:
    assert any("[REDACTED]" in text for text in seen), f"{path}: no line read ({seen})"
    leaked = [secret for secret in SECRETS.values() if secret in "\n".join(seen)]
    assert not leaked, f"{path} leaked {leaked}"


async def test_every_log_path_to_a_client_is_redacted(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    short, name = containers.run("leaky", "sh", "-c", SCRIPT)
    await wait_for(lambda: "done" in docker("logs", name), "the container to print")
    auth = {"Authorization": f"Bearer {admin_token}"}
    seen: dict[str, list[str]] = {}
    async with (
        docker_stack.up() as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as http,
    ):
        await known(http, admin_token, short)

        async def until_done(ws: Any) -> list[str]:
            lines: list[str] = []
            while "done" not in lines:
                message = await receive(ws, timeout=20)
                if message["type"] == "update":
                    lines += texts(message["data"]["lines"])
            return lines

        async with docker_stack.socket(address, f"/ws/docker/{name}/logs") as ws:
            seen["the socket endpoint"] = await until_done(ws)

        async with docker_stack.socket(address) as ws:
            await send(ws, {"type": "subscribe", "channel": "docker.logs",
                            "params": {"container": short}, "since": 0})  # fmt: skip
            seen["the docker.logs channel"] = await until_done(ws)
            await send(ws, {"type": "subscribe", "channel": "logs.merged",
                            "params": {"name": name}, "since": 0})  # fmt: skip
            merged = await receive_until(
                ws, lambda m: m["type"] == "update" and m["channel"].startswith("logs.merged")
            )
            seen["a merged view"] = texts(merged["data"]["lines"])

        sse_logs = f"/sse/docker/{name}/logs?since=0"  # the lines were printed at the start
        async with http.stream("GET", sse_logs, headers=auth) as sse:
            event = await first_event(sse, lambda e: e["type"] == "update")
            seen["SSE"] = texts(event["data"]["lines"])

        polled = await http.get(f"/api/poll/docker/{name}/logs", params={"since": 0}, headers=auth)
        assert polled.status_code == 200, polled.text
        seen["polling"] = [
            text
            for message in polled.json()["messages"]
            for text in texts(message["data"]["lines"])
        ]

        page = await http.get(f"/api/docker/{name}/logs", params={"limit": 50}, headers=auth)
        assert page.status_code == 200, page.text
        seen["a scroll-back page"] = texts(page.json()["lines"])

    print(json.dumps(seen, indent=1))
    for path, lines in seen.items():
        assert_redacted(path, lines)


async def test_a_pods_log_is_redacted_live_and_in_scroll_back(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    run_pod(k8s_cluster, namespace, "leaky", container("c", k8s_cluster.image, SCRIPT))
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    seen: dict[str, list[str]] = {}
    async with gateway_over(collector, gateway_settings, admin_token) as (address, http):
        await listed_pods(http, cluster, namespace)
        page: dict[str, Any] = {"lines": []}
        while "done" not in texts(page["lines"]):
            answer = await http.get(f"/api/k8s/{cluster}/{namespace}/leaky/logs")
            if answer.status_code == 200:  # else the container is still starting
                page = answer.json()
        seen["a scroll-back page"] = texts(page["lines"])
        url = f"ws://{address}/ws/k8s/{cluster}/{namespace}/leaky/logs?token={admin_token}"
        async with connect(url) as ws:
            lines: list[str] = []

            def collect(message: dict[str, Any]) -> bool:
                if message["type"] == "update":
                    lines.extend(texts(message["data"]["lines"]))
                return "done" in lines

            await receive_until(ws, collect, timeout=60)
            seen["the socket endpoint"] = lines

    for path, lines in seen.items():
        assert_redacted(path, lines)
