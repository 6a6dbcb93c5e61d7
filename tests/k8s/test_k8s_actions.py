"""Actions on Kubernetes workloads through the gateway, carried out by the deployer of
the cluster against a real API server: scale a Deployment, restart its rollout, delete
a pod (asked first; seen deleted on the `k8s.status` socket); a grant of another
cluster is refused, by the gateway and by the deployer itself; bad inputs."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from websockets.asyncio.client import ClientConnection, connect

from tests.deploy_support import run_deployer
from tests.grant_support import granted
from tests.k8s.test_k8s_deployer import make_deployment, template
from tests.k8s_cluster import Cluster
from tests.k8s_support import (
    collecting,
    container,
    eventually,
    k8s_deployer_settings,
    k8s_settings,
    run_pod,
)
from tests.support import NatsServer, bearer, bus_client, receive, receive_until, send, until
from vigil import ctl
from vigil.messages import ActOnWorkload, ErrorCode
from vigil.operations import Actions

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
async def k8s_deployer(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, gateway: str
) -> AsyncIterator[str]:
    """The deployer of the cluster (target kubernetes) and the gateway; yields the
    gateway's address."""
    async with run_deployer(k8s_deployer_settings(nats_server, prefix, k8s_cluster)):
        yield gateway


@pytest.fixture
async def http(k8s_deployer: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{k8s_deployer}", timeout=30) as client:
        yield client


def path(cluster: Cluster, namespace: str, kind: str, name: str) -> str:
    return f"/api/k8s/{cluster.context}/{namespace}/{kind}/{name}/actions"


def pod_exists(cluster: Cluster, namespace: str, name: str) -> bool:
    with cluster.api_client() as api:
        try:
            client.CoreV1Api(api).read_namespaced_pod(name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
    return True


def restarted_at(cluster: Cluster, namespace: str, name: str) -> str | None:
    with cluster.api_client() as api:
        found = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    annotations = found.spec.template.metadata.annotations or {}
    value: str | None = annotations.get(RESTARTED_AT)
    return value


async def answer_the_question(ws: ClientConnection, name: str, confirm: bool) -> dict[str, Any]:
    ask = await receive_until(ws, lambda m: m["type"] == "ask", timeout=20)
    assert (ask["kind"], ask["data"]["name"]) == ("confirm_action", name)
    await send(ws, {"type": "answer", "requestId": ask["requestId"], "data": {"confirm": confirm}})
    return ask


async def running_on_the_gateway(
    http: httpx.AsyncClient, token: str, cluster: str, namespace: str, pod: str
) -> None:
    """Until the gateway lists the pod running (its collector follows the cluster)."""

    async def listed() -> bool | None:
        answer = await http.get(f"/api/k8s/{cluster}/pods", headers=bearer(token))
        pods = answer.json().get("pods", []) if answer.status_code == 200 else []
        return (
            any((p["namespace"], p["pod"], p["phase"]) == (namespace, pod, "Running") for p in pods)
            or None
        )

    await until(listed, f"{namespace}/{pod} running on the gateway", 40)


async def audited(
    http: httpx.AsyncClient, admin_token: str, count: int, **query: str
) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]] | None:
        page = await http.get("/api/audit", params=query, headers=bearer(admin_token))
        events: list[dict[str, Any]] = page.json()["events"]
        return events if len(events) >= count else None

    return await until(found, f"{count} audit events of {query}")


async def test_scale_and_restart_a_deployment(
    http: httpx.AsyncClient, k8s_cluster: Cluster, namespace: str, admin_token: str
) -> None:
    make_deployment(k8s_cluster, namespace, "web")
    where = path(k8s_cluster, namespace, "deployment", "web")

    scaled = await http.post(
        where, json={"action": "scale", "replicas": 2}, headers=bearer(admin_token)
    )
    assert scaled.status_code == 200, scaled.text
    assert (scaled.json()["outcome"], scaled.json()["replicas"]) == ("done", 2)
    await eventually(
        lambda: template(k8s_cluster, namespace, "web")["available"] == 2, "two replicas", 60
    )

    assert restarted_at(k8s_cluster, namespace, "web") is None
    generation = template(k8s_cluster, namespace, "web")["generation"]
    restarted = await http.post(
        where, json={"action": "rollout-restart"}, headers=bearer(admin_token)
    )
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["detail"].startswith("restarted at ")
    assert restarted_at(k8s_cluster, namespace, "web")  # as kubectl rollout restart does
    assert template(k8s_cluster, namespace, "web")["generation"] == generation + 1

    events = await audited(
        http, admin_token, 2, service="deployer", action="k8s.", target=f"{namespace}/web"
    )
    assert sorted(e["action"] for e in events) == ["k8s.rollout-restart", "k8s.scale"]
    assert {(e["actor"]["name"], e["outcome"]) for e in events} == {("admin", "done")}


async def test_deleting_a_pod_is_asked_first_and_seen_on_the_socket(
    http: httpx.AsyncClient,
    k8s_deployer: str,
    k8s_cluster: Cluster,
    namespace: str,
    nats_server: NatsServer,
    prefix: str,
    admin_token: str,
) -> None:
    run_pod(k8s_cluster, namespace, "lone", container("app", k8s_cluster.image, "sleep 3600"))
    where = path(k8s_cluster, namespace, "pod", "lone")
    params = {"cluster": k8s_cluster.context, "namespace": namespace, "pod": "lone"}
    settings = k8s_settings(nats_server, prefix, k8s_cluster)
    async with (
        collecting(settings),
        connect(f"ws://{k8s_deployer}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)  # connected
        await running_on_the_gateway(http, admin_token, k8s_cluster.context, namespace, "lone")
        await send(ws, {"type": "subscribe", "channel": "k8s.status", "params": params})
        await receive_until(
            ws, lambda m: m["type"] == "update" and m["data"]["phase"] == "Running", 20
        )
        # A no: nothing happens.
        asked = asyncio.create_task(answer_the_question(ws, "lone", confirm=False))
        kept = await http.post(where, json={"action": "delete"}, headers=bearer(admin_token))
        ask = await asked
        assert ask["question"].startswith(f"Delete pod {namespace}/lone in ")
        assert kept.json()["outcome"] == "declined"
        assert pod_exists(k8s_cluster, namespace, "lone")
        # A yes: the pod goes, and the socket says so.
        asked = asyncio.create_task(answer_the_question(ws, "lone", confirm=True))
        gone = await http.post(where, json={"action": "delete"}, headers=bearer(admin_token))
        await asked
        assert (gone.json()["outcome"], gone.json()["detail"]) == ("done", "deleted")
        deleted = await receive_until(
            ws, lambda m: m["type"] == "update" and m["data"]["event"] == "deleted", 20
        )
        assert deleted["data"]["pod"] == "lone"
    await eventually(lambda: not pod_exists(k8s_cluster, namespace, "lone"), "the pod gone", 60)
    events = await audited(
        http, admin_token, 2, service="deployer", action="k8s.delete", target=f"{namespace}/lone"
    )
    assert sorted(e["outcome"] for e in events) == ["done", "refused"]


async def test_a_grant_of_another_cluster_cannot_act_on_this_one(
    http: httpx.AsyncClient,
    k8s_cluster: Cluster,
    namespace: str,
    nats_server: NatsServer,
    prefix: str,
    admin_token: str,
) -> None:
    make_deployment(k8s_cluster, namespace, "web")
    other = await granted(http, admin_token, "otto", ["elsewhere"], role="operator")
    where = path(k8s_cluster, namespace, "deployment", "web")
    refused = await http.post(where, json={"action": "scale", "replicas": 0}, headers=bearer(other))
    assert (refused.status_code, refused.json()["detail"]["code"]) == (403, "FORBIDDEN")
    # The deployer checks the grant itself: asked over the bus, past the gateway.
    request = ActOnWorkload(
        cluster=k8s_cluster.context,
        namespace=namespace,
        kind="deployment",
        name="web",
        action="scale",
        replicas=0,
    )
    async with bus_client(nats_server, prefix) as bus:
        with pytest.raises(ctl.Refused) as refusal:
            await ctl.call(bus, Actions.WORKLOAD, request, token=other)
    assert refusal.value.code is ErrorCode.FORBIDDEN
    with k8s_cluster.api_client() as api:
        found = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    assert found.spec.replicas == 1  # untouched
    events = await audited(http, admin_token, 2, actor="otto", outcome="refused")
    assert sorted(e["service"] for e in events) == ["deployer", "gateway"]


async def test_bad_workload_inputs_get_clear_errors(
    http: httpx.AsyncClient, k8s_cluster: Cluster, namespace: str, admin_token: str
) -> None:
    async def post(kind: str, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        answer = await http.post(
            path(k8s_cluster, namespace, kind, name), json=body, headers=bearer(admin_token)
        )
        return answer.status_code, answer.json()["detail"]

    status, detail = await post("deployment", "nosuch", {"action": "scale", "replicas": 1})
    assert (status, detail["code"]) == (404, "NOT_FOUND")
    assert f"no deployment {namespace}/nosuch" in detail["message"]
    status, detail = await post("deployment", "web", {"action": "scale", "replicas": -1})
    assert status == 422  # the body: replicas >= 0
    status, detail = await post("deployment", "web", {"action": "scale"})
    assert (status, detail["code"]) == (422, "INVALID_MESSAGE")
    assert "replicas: scale needs it" in detail["message"]
    status, detail = await post("pod", "web", {"action": "scale", "replicas": 1})
    assert (status, detail["code"]) == (422, "INVALID_MESSAGE")
    status, detail = await post("daemonset", "web", {"action": "rollout-restart"})
    assert status == 422
    unserved = await http.post(
        f"/api/k8s/nosuchcluster/{namespace}/deployment/web/actions",
        json={"action": "rollout-restart"},
        headers=bearer(admin_token),
    )
    assert (unserved.status_code, unserved.json()["detail"]["code"]) == (404, "NOT_FOUND")
