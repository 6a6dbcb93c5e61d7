"""The Kubernetes seed endpoints, channels and routes, end to end: a real API server,
the collector, NATS, the gateway on uvicorn, and real WebSocket, SSE and HTTP clients."""

import re
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.k8s_cluster import Cluster
from tests.k8s_support import (
    container,
    gateway_over,
    k8s_settings,
    listed_pods,
    run_pod,
)
from tests.support import NatsServer, bearer, closed_with, receive, receive_until, send
from vigil_collector.kubernetes.pod_logs import restart_marker
from vigil_gateway.settings import GatewaySettings


async def user_token(http: httpx.AsyncClient, admin_token: str, clusters: list[str]) -> str:
    """A viewer granted only `clusters`, logged in."""
    body = {"username": "vera", "password": "vera-password-1", "roles": ["viewer"]}
    made = await http.post(
        "/api/auth/users", json=body | {"clusters": clusters}, headers=bearer(admin_token)
    )
    assert made.status_code == 201, made.text
    tokens = await http.post(
        "/api/auth/token", json={"username": "vera", "password": "vera-password-1"}
    )
    token: str = tokens.json()["access_token"]
    return token


async def test_metrics_endpoint_streams_the_namespaces_pods_and_the_routes_list_them(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    run_pod(k8s_cluster, namespace, "web", container("c", k8s_cluster.image, "sleep 3600"))
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with gateway_over(collector, gateway_settings, admin_token) as (address, http):
        url = f"ws://{address}/ws/k8s/{cluster}/metrics?namespace={namespace}&token={admin_token}"
        async with connect(url) as ws:
            update = await receive_until(
                ws,
                lambda m: m.get("type") == "update" and bool(m["data"]["pods"]),
                timeout=30,
            )
        await listed_pods(http, cluster, namespace)
        listed = (await http.get("/api/k8s/clusters")).json()
        pods = (await http.get(f"/api/k8s/{cluster}/pods")).json()
        polled = await http.get(f"/api/poll/k8s/{cluster}/metrics?namespace={namespace}")
    batch = update["data"]
    assert update["channel"] == f"k8s.metrics?cluster={cluster}&namespace={namespace}"
    assert [p["id"] for p in batch["pods"]] == [f"{namespace}/web"]  # only that namespace
    assert batch["nodes"][0]["id"]
    assert batch["metrics_available"] is True
    entry = next(c for c in listed["clusters"] if c["cluster"] == cluster)
    assert entry["metrics_available"] is True
    web = next(p for p in pods["pods"] if p["pod"] == "web")
    assert (web["namespace"], web["phase"]) == (namespace, "Running")
    assert polled.status_code == 200
    assert polled.json()["messages"][0]["data"]["pods"][0]["namespace"] == namespace


async def test_a_crashing_pods_restarts_and_crash_loop_reach_a_status_subscriber(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    run_pod(k8s_cluster, namespace, "crash", container("main", k8s_cluster.image, "exit 2"))
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with (
        gateway_over(collector, gateway_settings, admin_token) as (address, http),
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await listed_pods(http, cluster, namespace)
        await receive(ws)  # connected
        params = {"cluster": cluster, "namespace": namespace, "pod": "crash"}
        await send(ws, {"type": "subscribe", "channel": "k8s.status", "params": params})
        status = await receive_until(
            ws,
            lambda m: (
                m.get("type") == "update"
                and m["data"].get("reason") == "CrashLoopBackOff"
                and m["data"]["restarts"] >= 1
            ),
            timeout=60,
        )
    assert status["data"]["phase"] == "Running"
    assert status["data"]["ready"] is False
    assert status["channel"] == f"k8s.status?cluster={cluster}&namespace={namespace}&pod=crash"


async def test_pod_logs_arrive_complete_in_order_and_continue_across_a_restart(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    count = 300
    script = f"i=1; while [ $i -le {count} ]; do echo line $i; i=$((i+1)); done; sleep 3; exit 1"
    run_pod(k8s_cluster, namespace, "numbers", container("num", k8s_cluster.image, script))
    cluster = k8s_cluster.context
    settings = gateway_settings.model_copy(update={"log_tail": 10_000, "log_lease_s": 3.0})
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with gateway_over(collector, settings, admin_token) as (address, http):
        await listed_pods(http, cluster, namespace)
        url = f"ws://{address}/ws/k8s/{cluster}/{namespace}/numbers/logs?token={admin_token}"
        texts: list[str] = []
        async with connect(url) as ws:

            def collect(message: dict[str, Any]) -> bool:
                if message.get("type") == "update":
                    assert message["data"]["container"] == "num"
                    texts.extend(line["text"] for line in message["data"]["lines"])
                return texts.count(f"line {count}") >= 2

            await receive_until(ws, collect, timeout=90)
    marker = restart_marker("num", 1)
    assert marker in texts
    before, after = texts[: texts.index(marker)], texts[texts.index(marker) + 1 :]
    numbered = [f"line {i}" for i in range(1, count + 1)]
    assert before == numbered  # complete and in order, nothing twice
    assert after[:count] == numbered  # the new container, from its first line


async def test_logs_watched_before_the_container_runs_are_followed_once_it_does(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    count = 50
    script = f"i=1; while [ $i -le {count} ]; do echo line $i; i=$((i+1)); done; sleep 3600"
    first = container("first", k8s_cluster.image, "sleep 8")  # holds the pod in Pending
    main = container("main", k8s_cluster.image, script)
    run_pod(k8s_cluster, namespace, "late", main, init=[first])
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with gateway_over(collector, gateway_settings, admin_token) as (address, http):
        await listed_pods(http, cluster, namespace, phase="Pending")
        url = f"ws://{address}/ws/k8s/{cluster}/{namespace}/late/logs?token={admin_token}"
        texts: list[str] = []
        async with connect(url) as ws:

            def collect(message: dict[str, Any]) -> bool:
                if message.get("type") == "update":
                    texts.extend(line["text"] for line in message["data"]["lines"])
                return f"line {count}" in texts

            await receive_until(ws, collect, timeout=60)
        pods = (await http.get(f"/api/k8s/{cluster}/pods")).json()["pods"]
    assert texts == [f"line {i}" for i in range(1, count + 1)]
    late = next(p for p in pods if p["pod"] == "late")
    assert late["phase"] == "Running"


async def test_scroll_back_pages_a_pods_whole_log_in_order(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    count = 500
    script = f"i=1; while [ $i -le {count} ]; do echo line $i; usleep 2000; i=$((i+1)); done"
    run_pod(
        k8s_cluster, namespace, "long", container("c", k8s_cluster.image, script + "; sleep 3600")
    )
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with gateway_over(collector, gateway_settings, admin_token) as (_, http):
        await listed_pods(http, cluster, namespace)
        path = f"/api/k8s/{cluster}/{namespace}/long/logs"
        newest: dict[str, Any] = {"lines": []}
        while [line["text"] for line in newest["lines"][-1:]] != [f"line {count}"]:
            answer = await http.get(path, params={"limit": 150})
            if answer.status_code == 200:  # else the container is still starting
                newest = answer.json()
        pages = [newest]
        while pages[-1]["next_before"] is not None:
            answer = await http.get(path, params={"limit": 150, "before": pages[-1]["next_before"]})
            assert answer.status_code == 200, answer.text
            pages.append(answer.json())
        refused = await http.get(path, params={"before": "2026-01-01T00:00:00"})
    texts = [line["text"] for page in reversed(pages) for line in page["lines"]]
    assert texts == [f"line {i}" for i in range(1, count + 1)]
    assert [len(page["lines"]) for page in pages] == [150, 150, 150, 50]
    assert newest["channel"] == f"k8s.logs?cluster={cluster}&namespace={namespace}&pod=long"
    assert refused.status_code == 422  # no time zone


async def test_unknown_cluster_namespace_or_pod_is_not_found(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    run_pod(k8s_cluster, namespace, "here", container("c", k8s_cluster.image, "sleep 3600"))
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with (
        gateway_over(collector, gateway_settings, admin_token) as (address, http),
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await listed_pods(http, cluster, namespace)
        await receive(ws)
        asks = [
            ("k8s.metrics", {"cluster": "nowhere"}),
            ("k8s.status", {"cluster": cluster, "namespace": "no-such-ns"}),
            ("k8s.logs", {"cluster": cluster, "namespace": namespace, "pod": "ghost"}),
        ]
        for channel, params in asks:
            await send(ws, {"type": "subscribe", "channel": channel, "params": params})
            answer = await receive_until(ws, lambda m: m.get("type") == "error")
            assert answer["code"] == "NOT_FOUND", answer
        missing = await http.get("/api/k8s/nowhere/pods")
        assert missing.status_code == 404
        logs = f"ws://{address}/ws/k8s/{cluster}/{namespace}/ghost/logs?token={admin_token}"
        async with connect(logs) as lone:
            error = await receive_until(lone, lambda m: m.get("type") == "error")
            assert error["code"] == "NOT_FOUND"
            code, _ = await closed_with(lone)
            assert code == 1008


async def test_a_user_without_the_cluster_grant_is_refused_on_every_route(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    run_pod(k8s_cluster, namespace, "secret", container("c", k8s_cluster.image, "sleep 3600"))
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with gateway_over(collector, gateway_settings, admin_token) as (address, http):
        await listed_pods(http, cluster, namespace)
        token = await user_token(http, admin_token, ["some-other-cluster"])
        pod_path = f"k8s/{cluster}/{namespace}/secret/logs"
        for path in (f"k8s/{cluster}/metrics", pod_path):
            async with connect(f"ws://{address}/ws/{path}?token={token}") as ws:
                error = await receive_until(ws, lambda m: m.get("type") == "error")
                assert error["code"] == "FORBIDDEN", (path, error)
            for twin in ("sse", "api/poll"):
                answer = await http.get(f"/{twin}/{path}", headers=bearer(token))
                assert answer.status_code == 403, (twin, path, answer.text)
        for channel, params in [
            ("k8s.metrics", {"cluster": cluster}),
            ("k8s.status", {"cluster": cluster}),
            ("k8s.logs", {"cluster": cluster, "namespace": namespace, "pod": "secret"}),
        ]:
            query = "&".join(f"{k}={v}" for k, v in params.items())
            for twin in ("sse", "api/poll"):
                answer = await http.get(
                    f"/{twin}/channels/{channel}?{query}", headers=bearer(token)
                )
                assert answer.status_code == 403, (twin, channel, answer.text)
            async with connect(f"ws://{address}/ws?token={token}") as ws:
                await receive(ws)
                await send(ws, {"type": "subscribe", "channel": channel, "params": params})
                error = await receive_until(ws, lambda m: m.get("type") == "error")
                assert error["code"] == "FORBIDDEN", (channel, error)
        pods = await http.get(f"/api/k8s/{cluster}/pods", headers=bearer(token))
        assert pods.status_code == 403
        page = await http.get(f"/api/{pod_path}", headers=bearer(token))
        assert page.status_code == 403
        assert re.search("no grant", pods.text)
        seen = (await http.get("/api/k8s/clusters", headers=bearer(token))).json()
        assert seen == {"clusters": []}
        everything = (await http.get("/api/k8s/clusters", headers=bearer(admin_token))).json()
        assert cluster in {c["cluster"] for c in everything["clusters"]}
