"""Merged logs of pods, on the testbed's real Kubernetes API: a Deployment's pods in one
time order through a rolling restart, and cluster grants on a view shared by users
with different grants. Then what needs no cluster: the owner the collector gives a
pod, the pod selector, and the refusals of malformed Kubernetes selectors."""

import asyncio
import contextlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from websockets.asyncio.client import ClientConnection, connect

from tests.cli_support import running, vigil
from tests.docker_engine import Containers
from tests.docker_support import docker_collector
from tests.journal_support import Entry, Journal
from tests.k8s.test_k8s_gateway import user_token
from tests.k8s_cluster import Cluster
from tests.k8s_support import (
    collecting,
    container,
    gateway_over,
    k8s_settings,
    listed_pods,
    run_pod,
)
from tests.support import (
    NatsServer,
    bearer,
    receive,
    receive_until,
    run_collector,
    send,
    serve_gateway,
)
from vigil.messages import PodOwner, PodStatusChanged
from vigil_collector.kubernetes.pod_status import owner_of
from vigil_gateway.directory.pod_selector import PodSelector
from vigil_gateway.settings import GatewaySettings

COUNTER = 'i=0; while true; do i=$((i+1)); echo "$HOSTNAME $i"; usleep {micros}; done'


def run_deployment(cluster: Cluster, namespace: str, name: str, replicas: int) -> None:
    """Pods that count, each line saying which pod it is from."""
    labels = {"app": name}
    counter = container("count", cluster.image, COUNTER.format(micros=100_000))
    with cluster.api_client() as api:
        client.AppsV1Api(api).create_namespaced_deployment(
            namespace,
            client.V1Deployment(
                metadata=client.V1ObjectMeta(name=name, labels=labels),
                spec=client.V1DeploymentSpec(
                    replicas=replicas,
                    selector=client.V1LabelSelector(match_labels=labels),
                    template=client.V1PodTemplateSpec(
                        metadata=client.V1ObjectMeta(labels=labels),
                        spec=client.V1PodSpec(
                            containers=[counter], termination_grace_period_seconds=1
                        ),
                    ),
                ),
            ),
        )


def restart_rollout(cluster: Cluster, namespace: str, name: str) -> None:
    """What `kubectl rollout restart` does: a new annotation on the pod template."""
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": time.ctime()}}
            }
        }
    }
    with cluster.api_client() as api:
        client.AppsV1Api(api).patch_namespaced_deployment(name, namespace, patch)


async def subscribe(ws: ClientConnection, params: dict[str, str]) -> dict[str, Any]:
    await send(ws, {"type": "subscribe", "channel": "logs.merged", "params": params})
    return await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})


class Merged:
    """What a socket on a merged view got: its lines, each with when it arrived."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.lines: list[dict[str, Any]] = []

    async def read(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                message = await receive(self.ws, timeout=left)
            except TimeoutError:
                return
            if message["type"] == "update":
                now = loop.time()
                self.lines += [line | {"arrived": now} for line in message["data"]["lines"]]

    def markers(self, marker: str) -> set[str]:
        return {line["name"] for line in self.lines if line.get("marker") == marker}

    def counted(self, source: str) -> list[int]:
        """The numbers counted by `source` (a pod's lines say its name)."""
        words = [line["text"].split() for line in self.lines if not line.get("marker")]
        return [int(w[1]) for w in words if len(w) == 2 and w[0] == source and w[1].isdigit()]


async def test_a_deployments_pods_merge_in_time_order_through_a_rolling_restart(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    run_deployment(k8s_cluster, namespace, "web", replicas=2)
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    settings = gateway_settings.model_copy(update={"merge_window_s": 0.5, "log_lease_s": 3.0})
    params = {"workload": "deployment/web", "namespace": namespace, "cluster": cluster}
    async with (
        gateway_over(collector, settings, admin_token) as (address, http),
        connect(f"ws://{address}/ws?token={admin_token}", max_size=None) as ws,
    ):
        first_pods = await listed_pods(http, cluster, namespace, count=2)
        await receive(ws)
        subscribed = await subscribe(ws, params)
        assert subscribed["type"] == "subscribed", subscribed
        view = Merged(ws)
        while not all(view.counted(pod) for pod in first_pods):
            await view.read(1)
        await view.read(3)
        before_restart = len(view.lines)
        restart_rollout(k8s_cluster, namespace, "web")
        deadline = time.monotonic() + 120
        while not (view.markers("left") >= first_pods and len(view.markers("joined")) >= 2):
            assert time.monotonic() < deadline, (view.markers("joined"), view.markers("left"))
            await view.read(1)
        await view.read(3)  # the new pods' lines go on

    new_pods = view.markers("joined")
    assert not new_pods & first_pods
    assert view.markers("left") == first_pods
    lines = [line for line in view.lines if not line.get("marker")]
    on_time = [line["time"] for line in lines if not line.get("late")]
    assert on_time == sorted(on_time), "merged lines out of time order"
    for pod in first_pods | new_pods:  # each pod's lines complete and in order
        numbers = view.counted(pod)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), pod
        assert len(numbers) >= 10, pod
    # Nothing but the pods' own lines: not the API's unstamped `rpc error: ... No such
    # container` that ends a stopped container's stream.
    assert sum(len(view.counted(pod)) for pod in first_pods | new_pods) == len(lines)
    for line in lines:
        assert (line["cluster"], line["namespace"], line["container"]) == (
            cluster,
            namespace,
            "count",
        )
        assert "host" not in line
    # The stream never stopped: lines came at least every 3 s through the restart.
    arrivals = [line["arrived"] for line in view.lines[before_restart:] if not line.get("marker")]
    assert max(b - a for a, b in itertools.pairwise(arrivals)) < 3.0
    assert max(arrivals) - min(arrivals) > 5


async def sse_lines(
    http: httpx.AsyncClient, token: str, params: dict[str, str], seconds: float
) -> list[dict[str, Any]]:
    """The lines of the merged view's SSE twin for `seconds`."""
    lines: list[dict[str, Any]] = []
    path = "/sse/channels/logs.merged"
    async with http.stream("GET", path, params=params, headers=bearer(token)) as answer:
        assert answer.status_code == 200
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for text in answer.aiter_lines():
                    message = json.loads(text[6:]) if text.startswith("data: ") else {}
                    if message.get("type") == "update":
                        lines += message["data"]["lines"]
    return lines


def two_clusters(cluster: Cluster, path: Path) -> tuple[str, str]:
    """A kubeconfig naming the testbed twice: a second context `{context}-b` on the
    same API server is, for Vigil, a second cluster."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    original = next(c for c in config["contexts"] if c["name"] == cluster.context)
    second = f"{cluster.context}-b"
    config["contexts"].append({"name": second, "context": original["context"]})
    path.write_text(yaml.safe_dump(config))
    return cluster.context, second


async def test_a_user_without_a_clusters_grant_never_sees_its_lines_in_a_shared_view(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    granted, secret = two_clusters(k8s_cluster, kubeconfig)
    run_pod(
        k8s_cluster,
        namespace,
        "shared",
        container("c", k8s_cluster.image, COUNTER.format(micros=50_000)),
    )
    collector = k8s_settings(
        nats_server, prefix, k8s_cluster, kubeconfig=str(kubeconfig), k8s_contexts=[granted, secret]
    )
    params = {"selector": "app=shared", "namespace": namespace}  # every cluster
    async with gateway_over(collector, gateway_settings, admin_token) as (address, http):
        for name in (granted, secret):
            await listed_pods(http, name, namespace)
        token = await user_token(http, admin_token, [granted])
        async with (
            connect(f"ws://{address}/ws?token={token}", max_size=None) as user_ws,
            connect(f"ws://{address}/ws?token={admin_token}", max_size=None) as admin_ws,
        ):
            await receive(user_ws)
            await receive(admin_ws)
            # The user's subscription starts the feed; the admin's joins it (one
            # channel key, one feed on this replica) and widens it to both clusters.
            assert (await subscribe(user_ws, params))["type"] == "subscribed"
            user, admin = Merged(user_ws), Merged(admin_ws)
            await user.read(2)
            assert (await subscribe(admin_ws, params))["type"] == "subscribed"
            while {line["cluster"] for line in admin.lines} != {granted, secret}:
                await asyncio.gather(user.read(1), admin.read(1))
            # A second socket of the user, over SSE, joins the feed that now follows both.
            late_user, _, _ = await asyncio.gather(
                sse_lines(http, token, params, seconds=4), admin.read(4), user.read(4)
            )
            refused = await subscribe(user_ws, params | {"cluster": secret})
            sse = await http.get(
                "/sse/channels/logs.merged",
                params=params | {"cluster": secret},
                headers=bearer(token),
            )

    assert {line["cluster"] for line in user.lines} == {granted}
    assert user.counted("shared"), "the user sees the cluster it has the grant of"
    assert {line["cluster"] for line in late_user} == {granted}
    seen_by_admin = {line["cluster"] for line in admin.lines}
    assert seen_by_admin == {granted, secret}
    assert (refused["type"], refused.get("code")) == ("error", "FORBIDDEN"), refused
    assert sse.status_code == 403


async def test_a_view_with_both_selectors_merges_a_container_and_a_pod(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    containers: Containers,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    counter = COUNTER.format(micros=100_000)
    run_pod(k8s_cluster, namespace, "kube", container("c", k8s_cluster.image, counter))
    dock = counter.replace("$HOSTNAME", "dock")
    docker_id, docker_name = containers.run("dock", "sh", "-c", dock)
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    settings = gateway_settings.model_copy(update={"merge_window_s": 0.5, "log_lease_s": 3.0})
    params = {
        "label": f"vigil.test={containers.label}",
        "selector": "app=kube",
        "namespace": namespace,
    }
    async with (
        run_collector(docker_collector(nats_server, prefix)),
        gateway_over(collector, settings, admin_token) as (address, http),
        connect(f"ws://{address}/ws?token={admin_token}", max_size=None) as ws,
    ):
        await listed_pods(http, cluster, namespace)
        await receive(ws)
        assert (await subscribe(ws, params))["type"] == "subscribed"
        view = Merged(ws)
        for _ in range(30):
            await view.read(1)
            if len(view.counted("kube")) > 5 and len(view.counted("dock")) > 5:
                break
    lines = [line for line in view.lines if not line.get("marker")]
    on_time = [line["time"] for line in lines if not line.get("late")]
    assert on_time == sorted(on_time), "merged lines out of time order"
    pod_line = next(line for line in lines if line["name"] == "kube")
    docker_line = next(line for line in lines if line.get("container") == docker_id)
    assert (pod_line["cluster"], pod_line["namespace"]) == (cluster, namespace)
    assert "cluster" not in docker_line
    assert docker_line["name"] == docker_name
    assert docker_line["host"]
    for source in ("kube", "dock"):
        numbers = view.counted(source)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), source


async def write_counter(journal: Journal, name: str, stop: asyncio.Event) -> None:
    """`name N` in the journal of unit `name.service` every 100 ms, until `stop`."""
    for i in itertools.count(1):
        if stop.is_set():
            return
        await asyncio.to_thread(journal.write, Entry(f"{name} {i}", unit=f"{name}.service"))
        await asyncio.sleep(0.1)


async def test_a_units_journal_lines_merge_in_time_order_with_a_containers_and_a_pods(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    containers: Containers,
    journal: Journal,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    counter = COUNTER.format(micros=100_000)
    run_pod(k8s_cluster, namespace, "kube", container("c", k8s_cluster.image, counter))
    docker_id, _ = containers.run("dock", "sh", "-c", counter.replace("$HOSTNAME", "dock"))
    journal.write(Entry("jour 0", unit="jour.service"))  # the unit is known from the start
    # The journal is the Docker collector's host's; the cluster's collector serves none.
    collector = k8s_settings(nats_server, prefix, k8s_cluster, journal=False)
    docker = docker_collector(nats_server, prefix, journal_directory=journal.directory)
    settings = gateway_settings.model_copy(update={"merge_window_s": 0.5, "log_lease_s": 3.0})
    params = {
        "label": f"vigil.test={containers.label}",
        "selector": "app=kube",
        "namespace": namespace,
        "journal": "unit=jour.service",
        "host": "testhost",
    }
    stop = asyncio.Event()
    writing = asyncio.create_task(write_counter(journal, "jour", stop))
    try:
        async with (
            run_collector(docker),
            gateway_over(collector, settings, admin_token) as (address, http),
            connect(f"ws://{address}/ws?token={admin_token}", max_size=None) as ws,
        ):
            await listed_pods(http, k8s_cluster.context, namespace)
            await receive(ws)
            assert (await subscribe(ws, params))["type"] == "subscribed"
            view = Merged(ws)
            for _ in range(30):
                await view.read(1)
                if all(len(view.counted(source)) > 5 for source in ("kube", "dock", "jour")):
                    break
    finally:
        stop.set()
        await writing
    lines = [line for line in view.lines if not line.get("marker")]
    on_time = [line["time"] for line in lines if not line.get("late")]
    assert on_time == sorted(on_time), "merged lines out of time order"
    journal_line = next(line for line in lines if line["name"] == "jour")
    assert (journal_line["host"], journal_line["unit"]) == ("testhost", "jour.service")
    assert "cluster" not in journal_line
    assert "container" not in journal_line
    assert any(line.get("container") == docker_id for line in lines)
    assert any(line.get("cluster") == k8s_cluster.context for line in lines)
    for source in ("kube", "dock", "jour"):
        numbers = view.counted(source)
        assert len(numbers) > 5, source
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), source


async def test_vigil_logs_merges_the_pods_a_selector_picks(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway: str,
    logged_in: dict[str, str],
    admin_token: str,
) -> None:
    for pod_name in ("left", "right"):
        counter = COUNTER.format(micros=100_000).replace("$HOSTNAME", pod_name)
        run_pod(k8s_cluster, namespace, pod_name, container("c", k8s_cluster.image, counter))
    cluster = k8s_cluster.context
    command = ["logs", "-f", "--selector", "app!=none", "--namespace", namespace]
    async with (
        collecting(k8s_settings(nats_server, prefix, k8s_cluster)),
        httpx.AsyncClient(base_url=f"http://{gateway}", headers=bearer(admin_token)) as http,
    ):
        await listed_pods(http, cluster, namespace, count=2)
        async with running(logged_in, *command, "--cluster", cluster) as follower:
            lines = await follower.read_until(
                lambda seen: {"left", "right"} <= {line.split()[-2] for line in seen},
                "lines of both pods",
                timeout=40,
            )
            await follower.interrupt()
        unknown = await vigil(logged_in, *command, "--cluster", "nowhere")
    by_pod: dict[str, list[int]] = {}
    for line in lines:
        source, _, text = line.partition(" | ")
        pod_name, number = text.split()
        assert source == f"{cluster}/{namespace}/{pod_name}"  # each line after its pod
        by_pod.setdefault(pod_name, []).append(int(number))
    for numbers in by_pod.values():  # each pod's lines in order, none twice
        assert numbers == sorted(set(numbers))
    assert unknown.code == 1
    assert "no cluster 'nowhere'" in unknown.stderr


def test_a_deployments_pod_is_owned_by_the_deployment_not_its_replicaset() -> None:
    def meta(kind: str, name: str, **labels: str) -> dict[str, Any]:
        owners = [{"kind": kind, "name": name, "controller": True}]
        return {"ownerReferences": owners, "labels": labels}

    deployed = meta("ReplicaSet", "web-5d4f8b7c9", **{"pod-template-hash": "5d4f8b7c9"})
    assert owner_of(deployed) == PodOwner(kind="Deployment", name="web")
    assert owner_of(meta("ReplicaSet", "bare")) == PodOwner(kind="ReplicaSet", name="bare")
    assert owner_of(meta("StatefulSet", "db")) == PodOwner(kind="StatefulSet", name="db")
    assert owner_of(meta("DaemonSet", "agent")) == PodOwner(kind="DaemonSet", name="agent")
    assert owner_of({"labels": {"app": "x"}}) is None
    assert owner_of({"ownerReferences": [{"kind": "Node", "name": "n1"}]}) is None


def pod(labels: dict[str, str], owner: PodOwner | None = None) -> PodStatusChanged:
    return PodStatusChanged.model_validate(
        {
            "cluster": "c1",
            "namespace": "ns",
            "pod": "p",
            "phase": "Running",
            "ready": True,
            "restarts": 0,
            "containers": [],
            "event": "snapshot",
            "resource_version": "1",
            "time": "2026-11-23T00:00:00Z",
            "labels": labels,
            "owner": owner,
        }
    )


@pytest.mark.parametrize(
    ("selector", "labels", "picked"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web,tier=front", {"app": "web"}, False),
        ("app=web,tier=front", {"app": "web", "tier": "front"}, True),
        ("tier!=db", {"app": "web"}, True),  # as Kubernetes: no key is not equal
        ("tier!=db", {"tier": "db"}, False),
        ("app", {"app": "x"}, True),
        ("!legacy", {"legacy": "1"}, False),
        ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
    ],
)
def test_the_pod_selector_reads_equality_based_label_selectors(
    selector: str, labels: dict[str, str], picked: bool
) -> None:
    chosen = PodSelector.of({"selector": selector})
    assert chosen is not None
    assert chosen.picks(pod(labels)) is picked


def test_a_workload_narrowed_to_a_namespace_and_cluster_picks_only_its_pods() -> None:
    web = PodOwner(kind="Deployment", name="web")
    chosen = PodSelector.of({"workload": "deployment/web", "namespace": "ns", "cluster": "c1"})
    assert chosen is not None
    assert chosen.picks(pod({}, web))
    assert not chosen.picks(pod({}, PodOwner(kind="StatefulSet", name="web")))
    assert not chosen.picks(pod({}))
    elsewhere = PodSelector.of({"workload": "deployment/web", "namespace": "other"})
    assert elsewhere is not None
    assert not elsewhere.picks(pod({}, web))
    assert PodSelector.of({"label": "app=web"}) is None  # a Docker selector only


async def test_malformed_kubernetes_selectors_are_refused_saying_why(
    gateway_settings: GatewaySettings, admin_token: str
) -> None:
    refusals = [
        ({"selector": "app in (web,db)"}, "INVALID_MESSAGE", "label selector"),
        ({"selector": "app=web,,x"}, "INVALID_MESSAGE", "label selector"),
        ({"workload": "job/backup"}, "INVALID_MESSAGE", "deployment, statefulset, daemonset"),
        ({"workload": "web"}, "INVALID_MESSAGE", "kind/name"),
        ({"namespace": "default"}, "INVALID_MESSAGE", "needs a selector"),
        ({"label": "app=web", "namespace": "default"}, "INVALID_MESSAGE", "narrows pods"),
        ({"selector": "app=web", "host": "web1"}, "INVALID_MESSAGE", "narrows containers"),
        ({"selector": "app=web", "cluster": "nowhere"}, "NOT_FOUND", "no cluster"),
    ]
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        for params, code, reason in refusals:
            answer = await subscribe(ws, params)
            assert answer["type"] == "error", (params, answer)
            assert (answer["code"], reason in answer["message"]) == (code, True), answer
