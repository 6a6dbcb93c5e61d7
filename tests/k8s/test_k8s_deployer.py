"""Kubernetes deploys against a real API server: a Deployment patched and rolled out,
a rollout that cannot progress failed at its deadline and rolled back, a cancel; its
secrets reach the Deployment and no reader; a cluster's deploy is its grant's only."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from websockets.asyncio.client import connect

from tests.deploy_support import (
    Deployment,
    bus_for_deploys,
    operator_tokens,
    run_deployer,
)
from tests.docker_engine import docker
from tests.grant_support import granted
from tests.k8s_cluster import Cluster
from tests.k8s_support import eventually, k8s_deployer_settings
from tests.support import NatsServer, bearer, closed_with, receive, receive_until, send
from vigil import ctl
from vigil.messages import (
    DeploySpec,
    DeployState,
    DeployStep,
    ListDeploys,
    StepState,
)
from vigil.operations import Deploy


@pytest.fixture
async def k8s_deploys(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, admin_token: str
) -> AsyncIterator[Deployment]:
    """A deployer of the cluster (target kubernetes) and a bus to deploy through."""
    settings = k8s_deployer_settings(nats_server, prefix, k8s_cluster, k8s_timeout_s=20.0)
    async with run_deployer(settings), bus_for_deploys(nats_server, prefix) as bus:
        yield Deployment(bus, prefix, await operator_tokens(bus, admin_token))


@pytest.fixture(scope="session")
def second_image(k8s_cluster: Cluster) -> str:
    """The cluster's test image under a second tag: a new image to roll out."""
    tag = k8s_cluster.image.rsplit(":", 1)[0] + ":rollout"
    docker("tag", k8s_cluster.image, tag)
    return tag


def make_deployment(
    cluster: Cluster, namespace: str, name: str, containers: tuple[str, ...] = ("app",)
) -> None:
    """A one-replica Deployment whose pod's containers sleep. A pod counts as available
    once ready for 2 s, so a container that exits at once never does (ready for an
    instant, it would count without it, and a rollout to it could succeed)."""
    labels = {"app": name}
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1,
            min_ready_seconds=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    termination_grace_period_seconds=0,
                    containers=[
                        client.V1Container(
                            name=container,
                            image=cluster.image,
                            image_pull_policy="Never",
                            command=["sh", "-c", "sleep 3600"],
                        )
                        for container in containers
                    ],
                ),
            ),
        ),
    )
    with cluster.api_client() as api:
        client.AppsV1Api(api).create_namespaced_deployment(namespace, body)


def template(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    with cluster.api_client() as api:
        found = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
        container = found.spec.template.spec.containers[0]
        return {
            "image": container.image,
            "command": container.command,
            "available": found.status.available_replicas or 0,
            "updated": found.status.updated_replicas or 0,
            "generation": found.metadata.generation,
        }


async def ready_deployment(
    cluster: Cluster, namespace: str, name: str, containers: tuple[str, ...] = ("app",)
) -> dict[str, Any]:
    make_deployment(cluster, namespace, name, containers)
    return await eventually(
        lambda: (t := template(cluster, namespace, name))["available"] == 1 and t,
        f"{name} available",
    )


def spec(cluster: Cluster, namespace: str, image: str, **fields: Any) -> DeploySpec:
    values = {
        "target": "kubernetes",
        "cluster": cluster.context,
        "namespace": namespace,
        "name": "web",
        "image": image,
    }
    return DeploySpec.model_validate(values | fields)


async def test_a_rollout_of_a_new_image_succeeds(
    k8s_deploys: Deployment, k8s_cluster: Cluster, namespace: str, second_image: str
) -> None:
    await ready_deployment(k8s_cluster, namespace, "web")
    record, journal = await k8s_deploys.run(spec(k8s_cluster, namespace, second_image), 90)
    assert record.state is DeployState.SUCCEEDED, journal.steps()
    now = template(k8s_cluster, namespace, "web")
    assert now["image"] == second_image
    assert (now["available"], now["updated"]) == (1, 1)
    assert ("pull", "skipped") in journal.steps()
    assert [step for step, status in journal.steps() if status == "finished"] == [
        "queue",
        "validate",
        "create",
        "start",
        "health",
        "switch",
        "cleanup",
        "done",
    ]
    health = next(
        e for e in journal.events if e.step is DeployStep.HEALTH and e.status == "finished"
    )
    assert "rolled out" in health.message


async def test_a_rollout_changes_several_containers_env_and_more_fields(
    k8s_deploys: Deployment, k8s_cluster: Cluster, namespace: str, second_image: str
) -> None:
    await ready_deployment(k8s_cluster, namespace, "web", ("app", "sidecar"))
    changes = spec(
        k8s_cluster,
        namespace,
        second_image,
        images={"sidecar": second_image},
        env={"MODE": "blue"},
        patch={"workingDir": "/tmp", "resources": {"limits": {"memory": "64Mi"}}},
    )
    record, journal = await k8s_deploys.run(changes, 90)
    assert record.state is DeployState.SUCCEEDED, journal.steps()
    with k8s_cluster.api_client() as api:
        found = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    app, sidecar = found.spec.template.spec.containers
    assert (app.image, sidecar.image) == (second_image, second_image)
    assert [(e.name, e.value) for e in app.env] == [("MODE", "blue")]
    assert app.working_dir == "/tmp"
    assert app.resources.limits == {"memory": "64Mi"}
    assert sidecar.env is None  # only the named container gets env and the patch
    missing = spec(k8s_cluster, namespace, second_image, images={"nosuch": second_image})
    refused, _ = await k8s_deploys.run(missing, 60)
    assert refused.state is DeployState.FAILED
    assert "no container 'nosuch'" in (refused.reason or "")


async def test_a_rollout_that_cannot_progress_fails_at_its_deadline_and_rolls_back(
    k8s_deploys: Deployment, k8s_cluster: Cluster, namespace: str, second_image: str
) -> None:
    before = await ready_deployment(k8s_cluster, namespace, "web")
    failing = spec(
        k8s_cluster,
        namespace,
        second_image,
        command=["sh", "-c", "exit 1"],
        progress_deadline_s=5,
    )
    record, journal = await k8s_deploys.run(failing, 90)
    assert record.state is DeployState.FAILED
    failed = next(e for e in journal.events if e.status is StepState.FAILED)
    assert failed.step is DeployStep.HEALTH
    assert "ProgressDeadlineExceeded" in failed.message
    assert ("rollback", "finished") in journal.steps()
    after = await eventually(
        lambda: (
            (t := template(k8s_cluster, namespace, "web"))["available"] == 1
            and t["updated"] == 1
            and t
        ),
        "the previous revision available again",
        60,
    )
    assert (after["image"], after["command"]) == (before["image"], before["command"])


async def test_a_cancelled_rollout_rolls_back(
    k8s_deploys: Deployment, k8s_cluster: Cluster, namespace: str, second_image: str
) -> None:
    before = await ready_deployment(k8s_cluster, namespace, "web")
    stuck = spec(k8s_cluster, namespace, second_image, command=["sh", "-c", "exit 1"])
    record = await k8s_deploys.start(stuck)
    async with k8s_deploys.journal(record.id) as journal:
        await journal.wait_for(
            lambda e: e.step is DeployStep.HEALTH and e.status is StepState.STARTED,
            "the rollout to be watched",
            30,
        )
        await k8s_deploys.cancel(record.id, who="alice")
        await journal.ended(60)
    final = await k8s_deploys.record(record.id)
    assert final.state is DeployState.CANCELLED
    assert ("rollback", "finished") in journal.steps()
    after = await eventually(
        lambda: (t := template(k8s_cluster, namespace, "web"))["available"] == 1 and t,
        "the previous revision available",
        60,
    )
    assert (after["image"], after["command"]) == (before["image"], before["command"])


async def test_a_declined_confirmation_rolls_back_and_a_cluster_grant_is_needed(
    k8s_deploys: Deployment,
    k8s_cluster: Cluster,
    namespace: str,
    second_image: str,
    gateway: str,
    admin_token: str,
) -> None:
    before = await ready_deployment(k8s_cluster, namespace, "web")
    body = spec(k8s_cluster, namespace, second_image, confirm=True).model_dump(mode="json")
    admin = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        made = await http.post(
            "/api/auth/users",
            json={
                "username": "otto",
                "password": "otto-password-1",
                "roles": ["operator"],
                "clusters": ["another-cluster"],
            },
            headers=admin,
        )
        assert made.status_code == 201, made.text
        tokens = await http.post(
            "/api/auth/token", json={"username": "otto", "password": "otto-password-1"}
        )
        otto = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        refused = await http.post("/api/deploys", json=body, headers=otto)
        assert refused.status_code == 403, refused.text
        async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
            await receive(ws)  # connected
            created = await http.post("/api/deploys", json=body, headers=admin)
            assert created.status_code == 202, created.text
            deploy_id = created.json()["id"]
            ask = await receive_until(ws, lambda m: m["type"] == "ask", 60)
            assert (ask["kind"], ask["data"]["deploy_id"]) == ("confirm_deploy", deploy_id)
            async with k8s_deploys.journal(deploy_id) as journal:
                await send(ws, {"type": "answer", "requestId": ask["requestId"], "data": {}})
                await journal.ended(60)
    final = await k8s_deploys.record(deploy_id)
    assert final.state is DeployState.CANCELLED
    assert ("health", "finished") in journal.steps()  # it had rolled out, then was undone
    assert ("rollback", "finished") in journal.steps()
    after = await eventually(
        lambda: (
            (t := template(k8s_cluster, namespace, "web"))["available"] == 1
            and t["image"] == before["image"]
            and t
        ),
        "the previous revision back",
        60,
    )
    assert after["command"] == before["command"]


# -- secrets and grants ------------------------------------------------------------------

K8S_SECRETS = ["env-3b9d1f07", "patched-8c2e6a41", "arg-5f0d7b93", "cmd-1a7c4e52"]


async def test_a_rollouts_secrets_reach_the_deployment_and_no_reader(
    k8s_deploys: Deployment, k8s_cluster: Cluster, namespace: str, second_image: str
) -> None:
    await ready_deployment(k8s_cluster, namespace, "web")
    secret = spec(
        k8s_cluster,
        namespace,
        second_image,
        command=["sh", "-c", {"secret": "sleep 3600 # cmd-1a7c4e52"}],
        env={"API_KEY": "env-3b9d1f07"},
        patch={
            "args": ["--", {"secret": "arg-5f0d7b93"}],
            "env": [{"name": "DB_PASSWORD", "value": "patched-8c2e6a41"}],
        },
    )
    created = await k8s_deploys.start(secret)
    async with k8s_deploys.journal(created.id) as journal:
        await journal.ended(90)
    final = await k8s_deploys.record(created.id)
    assert final.state is DeployState.SUCCEEDED, journal.steps()
    with k8s_cluster.api_client() as api:
        found = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    app = found.spec.template.spec.containers[0]
    assert app.command == ["sh", "-c", "sleep 3600 # cmd-1a7c4e52"]
    assert app.args == ["--", "arg-5f0d7b93"]
    assert {(e.name, e.value) for e in app.env} == {
        ("API_KEY", "env-3b9d1f07"),
        ("DB_PASSWORD", "patched-8c2e6a41"),
    }
    listed = await ctl.call(
        k8s_deploys.bus, Deploy.LIST, ListDeploys(name="web"), token=k8s_deploys.tokens["alice"]
    )
    readable = [created, final, *listed.deploys, *journal.events]
    text = "".join(item.model_dump_json() for item in readable)
    assert not [value for value in K8S_SECRETS if value in text]
    assert final.spec.patch["env"] == [{"name": "DB_PASSWORD", "value": "***"}]
    assert final.target_state == {}  # the previous template (and its env) is the deployer's


async def test_a_deploy_of_a_cluster_is_listed_read_watched_and_cancelled_by_its_grant_only(
    k8s_deploys: Deployment, k8s_cluster: Cluster, namespace: str, gateway: str, admin_token: str
) -> None:
    """Oscar, an operator granted another cluster, against a deploy of this one; Olga,
    granted this cluster, against the same deploy (it fails at once: no such Deployment)."""
    body = spec(k8s_cluster, namespace, k8s_cluster.image, name="absent").model_dump(mode="json")
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as http:
        olga = await granted(http, admin_token, "olga", [k8s_cluster.context], "operator")
        oscar = await granted(http, admin_token, "oscar", ["another-cluster"], "operator")
        created = await http.post("/api/deploys", json=body, headers=bearer(olga))
        assert created.status_code == 202, created.text
        deploy_id = created.json()["id"]
        async with k8s_deploys.journal(deploy_id) as journal:
            await journal.ended(60)
        paths = [f"/api/deploys/{deploy_id}", f"/api/poll/deploy/{deploy_id}/status"]
        for path in [*paths, f"/api/poll/channels/deploy?id={deploy_id}"]:
            refused = await http.get(path, headers=bearer(oscar))
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["detail"]["code"] == "FORBIDDEN"
            assert k8s_cluster.context not in refused.text  # nor is the cluster named
        # SSE: the stream's one event is the refusal, then it closes as the socket would.
        sse = await http.get(f"/sse/deploy/{deploy_id}/status", headers=bearer(oscar))
        events = [json.loads(line[6:]) for line in sse.text.splitlines() if line[:6] == "data: "]
        assert [(e["type"], e["code"]) for e in events] == [("error", "FORBIDDEN"), ("close", 1008)]
        cancel = await http.post(f"/api/deploys/{deploy_id}/cancel", headers=bearer(oscar))
        assert (cancel.status_code, cancel.json()["detail"]["code"]) == (403, "FORBIDDEN")
        listed = (await http.get("/api/deploys", headers=bearer(oscar))).json()["deploys"]
        assert deploy_id not in [d["id"] for d in listed]
        async with connect(f"ws://{gateway}/ws?token={oscar}") as ws:
            await send(ws, {"type": "subscribe", "channel": "deploy", "params": {"id": deploy_id}})
            error = await receive_until(ws, lambda m: m["type"] == "error")
            assert error["code"] == "FORBIDDEN"
        async with connect(f"ws://{gateway}/ws/deploy/{deploy_id}/status?token={oscar}") as ws:
            error = await receive_until(ws, lambda m: m["type"] == "error")
            assert error["code"] == "FORBIDDEN"
            assert (await closed_with(ws))[0] == 1008

        # The same routes for Olga: all of it.
        got = await http.get(f"/api/deploys/{deploy_id}", headers=bearer(olga))
        assert (got.status_code, got.json()["state"]) == (200, "failed")
        polled = await http.get(f"/api/poll/deploy/{deploy_id}/status", headers=bearer(olga))
        assert len(polled.json()["messages"]) == len(journal.events)
        cancel = await http.post(f"/api/deploys/{deploy_id}/cancel", headers=bearer(olga))
        assert (cancel.status_code, cancel.json()["detail"]["code"]) == (409, "CONFLICT")
        listed = (await http.get("/api/deploys", headers=bearer(olga))).json()["deploys"]
        assert deploy_id in [d["id"] for d in listed]
        async with connect(f"ws://{gateway}/ws/deploy/{deploy_id}/status?token={olga}") as ws:
            last = await receive_until(
                ws, lambda m: m["type"] == "update" and m["data"]["step"] == "done"
            )
            assert last["data"]["state"] == "failed"
