"""Helpers of the Kubernetes tests: pods and Deployments on the real cluster, a
collector that follows it and a gateway over that, and waiting for what the API says."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
from kubernetes import client

from tests.conftest import collector_settings_for
from tests.deploy_support import deployer_settings_for
from tests.k8s_cluster import Cluster
from tests.support import NatsServer, bearer, serve_gateway
from vigil.lifecycle import stop_task
from vigil_collector.app import Collector, build_app
from vigil_collector.settings import CollectorSettings
from vigil_deployer.settings import DeployerSettings
from vigil_gateway.settings import GatewaySettings


def k8s_deployer_settings(
    nats: NatsServer, prefix: str, cluster: Cluster, **overrides: Any
) -> DeployerSettings:
    """The settings of a deployer of `cluster` (target kubernetes)."""
    where = {"target": "kubernetes", "host": cluster.context, "kubeconfig": cluster.kubeconfig}
    return deployer_settings_for(nats, prefix, **where, **overrides)


def k8s_settings(
    nats: NatsServer, prefix: str, cluster: Cluster, **overrides: object
) -> CollectorSettings:
    values: dict[str, object] = {
        "kubeconfig": cluster.kubeconfig,
        "k8s_contexts": [cluster.context],
        "k8s_interval_s": 2.0,
        "k8s_lease_s": 3.0,
        "interval_s": 30.0,
    }
    return collector_settings_for(nats, prefix, **(values | overrides))


@contextlib.asynccontextmanager
async def collecting(settings: CollectorSettings) -> AsyncIterator[Collector]:
    """The real collector, running until the block ends."""
    collector = build_app(settings)
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
        await stop_task(task)


@contextlib.asynccontextmanager
async def gateway_over(
    collector: CollectorSettings, gateway: GatewaySettings, token: str
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The collector following the cluster and a gateway over it: yields the gateway's
    address and an HTTP client of it that sends `token` unless a request says another."""
    async with (
        collecting(collector),
        serve_gateway(gateway) as address,
        httpx.AsyncClient(base_url=f"http://{address}", headers=bearer(token)) as http,
    ):
        yield address, http


async def listed_pods(
    http: httpx.AsyncClient, cluster: str, namespace: str, count: int = 1, phase: str = "Running"
) -> set[str]:
    """The namespace's pods in `phase` as the gateway lists them, once there are `count`
    (the collector has seen them get there)."""
    for _ in range(120):
        answer = await http.get(f"/api/k8s/{cluster}/pods")
        if answer.status_code == 200:
            found = {
                p["pod"]
                for p in answer.json()["pods"]
                if p["namespace"] == namespace and p["phase"] == phase
            }
            if len(found) >= count:
                return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"fewer than {count} pods {phase} in {cluster}/{namespace}")


def container(
    name: str, image: str, script: str, *, cpu_limit: str | None = None
) -> client.V1Container:
    resources = None
    if cpu_limit:
        resources = client.V1ResourceRequirements(
            requests={"cpu": cpu_limit, "memory": "16Mi"},
            limits={"cpu": cpu_limit, "memory": "64Mi"},
        )
    return client.V1Container(
        name=name,
        image=image,
        image_pull_policy="Never",
        command=["sh", "-c", script],
        resources=resources,
    )


def run_pod(
    cluster: Cluster,
    namespace: str,
    name: str,
    *containers: client.V1Container,
    init: Sequence[client.V1Container] = (),
    restart: str = "Always",
) -> None:
    """A pod that restarts its containers (`restart`: the pod's restartPolicy, Always
    unless said), killed at once when deleted; its `init` containers run first, one
    after another."""
    with cluster.api_client() as api:
        client.CoreV1Api(api).create_namespaced_pod(
            namespace,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
                spec=client.V1PodSpec(
                    containers=list(containers),
                    init_containers=list(init) or None,
                    restart_policy=restart,
                    termination_grace_period_seconds=0,
                ),
            ),
        )


def delete_pod(cluster: Cluster, namespace: str, name: str) -> None:
    with cluster.api_client() as api:
        client.CoreV1Api(api).delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def pod_metrics(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The adapter's figures for one pod (metrics.k8s.io), or None while it has none."""
    with cluster.api_client() as api:
        try:
            found: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods", name
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """`check()` (run in a thread: it may call the API) once it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)
