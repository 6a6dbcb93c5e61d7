"""Kept pod logs (#25), on the testbed's real Kubernetes API: a Deployment's pod
labelled `vigil.keep-logs=true` is followed with nobody watching, its lines (redacted)
kept in LOGS_KEPT under its Deployment's name, its restarts and its replacement (a new
pod name) one history with a marker each; its lease's batches say they are kept; the
search finds them by the workload's name, or the pod's, and a hit opens the lines around
it; a user without the cluster's grant finds none of it (403 when naming the cluster,
nothing otherwise). Every pod of a namespace kept is kept, a bare one under its own name;
a collector that takes the cluster over goes on after the last line kept of a running
pod, each line once, none lost. Then what needs no cluster: which pods are retained,
and the key they are kept under."""

import asyncio
from typing import Any

import httpx
import pytest
from kubernetes import client

from tests.conftest import collector_settings_for
from tests.docker_support import heard, kept_until_line, next_that
from tests.grant_support import granted
from tests.history_support import history_settings_for, run_history, search_hits
from tests.k8s_cluster import Cluster
from tests.k8s_support import (
    collecting,
    container,
    delete_pod,
    eventually,
    gateway_over,
    k8s_settings,
    run_pod,
)
from tests.support import NatsServer, bearer, bus_client, until
from vigil import ctl
from vigil.bus import Bus
from vigil.messages import (
    FollowPodLogs,
    KeptPodLogBatch,
    PodLogBatch,
    PodOwner,
    PodStatusChanged,
    utc_now,
)
from vigil.operations import Logs
from vigil.streams import LOGS_KEPT
from vigil_collector.kubernetes.kept_pod_logs import KeptPodLogs, workload_of
from vigil_gateway.settings import GatewaySettings

SEARCH = "/api/logs/search"
SECRET = "postgres://app:hunter2@db:5432/orders"
REDACTED = "postgres://app:[REDACTED]@db:5432/orders"
# Each run of the container: its lines, a secret, then it crashes (and is restarted).
CRASHING = f"echo \"run $(cat /proc/uptime)\"; echo 'kept line'; echo '{SECRET}'; sleep 1; exit 1"


def run_deployment(cluster: Cluster, namespace: str, name: str, labels: dict[str, str]) -> None:
    """One pod of `name`, with `labels` (and `app`) on it, whose container crashes."""
    selector = {"app": name}
    crashing = container("crash", cluster.image, CRASHING)
    with cluster.api_client() as api:
        client.AppsV1Api(api).create_namespaced_deployment(
            namespace,
            client.V1Deployment(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1DeploymentSpec(
                    replicas=1,
                    selector=client.V1LabelSelector(match_labels=selector),
                    template=client.V1PodTemplateSpec(
                        metadata=client.V1ObjectMeta(labels=selector | labels),
                        spec=client.V1PodSpec(
                            containers=[crashing], termination_grace_period_seconds=0
                        ),
                    ),
                ),
            ),
        )


async def kept_until(
    bus: Bus, cluster: str, namespace: str, workload: str, enough: int
) -> list[KeptPodLogBatch]:
    """Every batch kept under the workload, from the first, until `enough` runs have
    sent their secret line."""
    batches: list[KeptPodLogBatch] = []
    subject = bus.subjects.kept_k8s_logs(cluster, namespace, workload)
    async with heard(bus, subject, KeptPodLogBatch, stream=True) as queue:
        while sum(text == REDACTED for b in batches for _, text in b.lines) < enough:
            batches.append(await next_that(queue, lambda b: True, f"{enough} runs kept", 90))
    return batches


async def hits(http: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    return await search_hits(http, token, **{"pattern": "kept line|hunter2|REDACTED", **params})


async def test_a_retained_pod_nobody_watches_is_kept_across_restarts_and_found_with_a_grant(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    cluster = k8s_cluster.context
    run_deployment(k8s_cluster, namespace, "keeper", {"vigil.keep-logs": "true"})
    run_deployment(k8s_cluster, namespace, "plain", {})
    collector = k8s_settings(nats_server, prefix, k8s_cluster)
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        gateway_over(collector, gateway_settings, admin_token) as (_, http),
        bus_client(nats_server, prefix) as bus,
    ):
        batches = await kept_until(bus, cluster, namespace, "keeper", enough=2)

        # Two runs of the container, one history under the Deployment's name.
        lines = [text for batch in batches for _, text in batch.lines]
        assert lines.count(REDACTED) == 2
        assert "hunter2" not in "".join(lines)
        markers = [batch.generation for batch in batches if batch.generation is not None]
        restarts = [marker.restarts for marker in markers]
        assert len(restarts) >= 2
        assert restarts == list(range(restarts[0], restarts[-1] + 1))
        assert len({marker.uid for marker in markers}) == 1
        (pod,) = {batch.pod for batch in batches}
        assert pod.startswith("keeper-")
        assert {batch.workload for batch in batches} == {"keeper"}
        assert {batch.container for batch in batches} == {"crash"}
        times = [batch.start + micros for batch in batches for micros, _ in batch.lines]
        assert times == sorted(times)

        # Its pod deleted: the ReplicaSet's next one, under a new name, goes on the same
        # history after a marker of its own.
        await asyncio.to_thread(delete_pod, k8s_cluster, namespace, pod)
        batches = await kept_until(bus, cluster, namespace, "keeper", enough=3)
        pods = list(dict.fromkeys(batch.pod for batch in batches))
        assert pods[0] == pod
        assert len(pods) == 2
        successor = pods[1]
        firsts = [b.generation for b in batches if b.pod == successor and b.generation]
        assert firsts[0].uid not in {marker.uid for marker in markers}

        # Watched too: its lease's batches in LOGS say they are kept (the search reads
        # them in LOGS_KEPT only).
        live = bus.subjects.k8s_logs(cluster, namespace, successor)
        async with heard(bus, live, PodLogBatch) as queue:
            follow = FollowPodLogs(
                cluster=cluster, namespace=namespace, pod=successor, holder="test", lease_s=30
            )
            await ctl.call(bus, Logs.K8S_FOLLOW, follow)
            watched = await next_that(queue, lambda batch: True, "a leased batch", 60)
        assert watched.kept

        # Found by the admin: by the workload's name (both pods), by a pod's, in every cluster.
        by_workload = {"cluster": cluster, "namespace": namespace, "pod": "keeper"}

        async def both_runs() -> list[dict[str, Any]] | None:
            found = await hits(http, admin_token, **by_workload)
            return found if len(found) >= 6 else None

        found = await until(both_runs, "the kept lines of both pods, by the workload")
        assert {hit["text"] for hit in found} >= {"kept line", REDACTED}
        assert {(hit["pod"], hit["name"], hit["container"]) for hit in found} == {
            (pod, "keeper", "crash"),
            (successor, "keeper", "crash"),
        }
        by_pod = await hits(http, admin_token, cluster=cluster, namespace=namespace, pod=pod)
        assert {hit["pod"] for hit in by_pod} == {pod}
        assert await hits(http, admin_token, pattern="hunter2") == []
        # The namespace's (the cluster's others are earlier tests' pods, going away).
        in_namespace = {"cluster": cluster, "namespace": namespace, "pattern": "^kept line$"}
        each = await hits(http, admin_token, **in_namespace)
        assert {hit["pod"] for hit in each} == {pod, successor}  # nothing of "plain"
        assert all(hit["at"].startswith("k") for hit in each)  # not the lease's copies in LOGS

        # A hit opens the lines around it, across the workload's pods; a stranger's 404.
        secret_hit = [hit for hit in found if hit["text"] == REDACTED][-1]  # the first run's
        near = {"at": secret_hit["at"], "before": 1, "after": 1, **by_workload}
        around = await http.get("/api/logs/around", params=near, headers=bearer(admin_token))
        assert around.status_code == 200, around.text
        before, hit, after = [line["text"] for line in around.json()["lines"]]
        assert (before, hit) == ("kept line", REDACTED)
        assert after.startswith("run ")  # the next run's first line

        # A user without the cluster's grant: 403 by name, nothing otherwise.
        stranger = await granted(http, admin_token, "stranger", [])
        refused = await http.get(SEARCH, params={"pattern": "kept", **by_workload},
                                 headers=bearer(stranger))  # fmt: skip
        assert refused.status_code == 403
        assert await hits(http, stranger) == []
        unseen = {"at": secret_hit["at"]}
        answer = await http.get("/api/logs/around", params=unseen, headers=bearer(stranger))
        assert answer.status_code == 404

        # The pod without the label was never kept.
        stream = LOGS_KEPT.stream(bus.subjects)
        plain = bus.subjects.kept_k8s_logs(cluster, namespace, "plain")
        info = await bus.js.stream_info(stream, subjects_filter=plain)
        assert not info.state.subjects


async def test_every_pod_of_a_namespace_kept_is_kept_a_bare_one_by_its_own_name(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, namespace: str
) -> None:
    script = f"echo 'bare line'; echo '{SECRET}'; echo 'bare done'; sleep 3600"
    run_pod(k8s_cluster, namespace, "loner", container("c", k8s_cluster.image, script))
    collector = k8s_settings(nats_server, prefix, k8s_cluster, k8s_logs_keep_namespaces=[namespace])
    async with collecting(collector), bus_client(nats_server, prefix) as bus:
        batches = await kept_until(bus, k8s_cluster.context, namespace, "loner", enough=1)
    assert [text for b in batches for _, text in b.lines][:3] == [
        "bare line",
        REDACTED,
        "bare done",
    ]
    assert {(b.pod, b.workload, b.container) for b in batches} == {("loner", "loner", "c")}
    assert batches[0].generation is not None
    assert batches[0].generation.restarts == 0


@pytest.mark.timeout(120)  # the pod writes for 30 s, and the testbed starts it slowly
async def test_a_collector_taking_the_cluster_over_keeps_each_line_of_a_running_pod_once(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, namespace: str
) -> None:
    # Numbered lines in three bursts: 1-100 (all of them, even as a tail), 101-2000 while
    # no collector follows the cluster, 2001-2500 and `done`.
    script = "seq 1 100; sleep 15; seq 101 2000; sleep 15; seq 2001 2500; echo done; sleep 3600"
    cluster = k8s_cluster.context
    collector = k8s_settings(nats_server, prefix, k8s_cluster, k8s_logs_keep_namespaces=[namespace])
    async with bus_client(nats_server, prefix) as bus:
        subject = bus.subjects.kept_k8s_logs(cluster, namespace, "counter")
        async with collecting(collector):
            run_pod(k8s_cluster, namespace, "counter", container("c", k8s_cluster.image, script))
            await kept_until_line(bus, subject, KeptPodLogBatch, "100")

        def wrote() -> bool:
            with k8s_cluster.api_client() as api:
                core = client.CoreV1Api(api)
                return core.read_namespaced_pod_log("counter", namespace, tail_lines=1) == "2000\n"

        await eventually(wrote, "the lines written while no collector follows", timeout=30)
        async with collecting(collector):  # the lease was given up: taken over at once
            batches = await kept_until_line(bus, subject, KeptPodLogBatch, "done")

    lines = [text for batch in batches for _, text in batch.lines]
    assert lines == [str(n) for n in range(1, 2501)] + ["done"]
    assert {(b.pod, b.container) for b in batches} == {("counter", "c")}


def status(namespace: str, labels: dict[str, str], owner: PodOwner | None) -> PodStatusChanged:
    return PodStatusChanged(
        cluster="c",
        namespace=namespace,
        pod="web-0",
        phase="Running",
        ready=True,
        restarts=0,
        containers=[],
        event="snapshot",
        resource_version="1",
        time=utc_now(),
        labels=labels,
        owner=owner,
    )


def test_a_pod_is_kept_under_its_workload_unless_it_keeps_its_own_name() -> None:
    assert workload_of(status("a", {}, PodOwner(kind="Deployment", name="web"))) == "web"
    assert workload_of(status("a", {}, PodOwner(kind="DaemonSet", name="agent"))) == "agent"
    assert workload_of(status("a", {}, PodOwner(kind="StatefulSet", name="web"))) == "web-0"
    assert workload_of(status("a", {}, None)) == "web-0"
    assert workload_of(status("a", {}, PodOwner(kind="Job", name="a.b"))) == "web-0"


async def test_a_pod_is_retained_by_its_namespace_or_the_keep_label(
    nats_server: NatsServer, prefix: str
) -> None:
    settings = collector_settings_for(
        nats_server, prefix, k8s_logs_keep_namespaces=["prod"], logs_keep_label="keep"
    )
    async with bus_client(nats_server, prefix) as bus:
        kept = KeptPodLogs(settings, bus, "c", client.ApiClient())
        assert kept.retained(status("prod", {}, None))
        assert kept.retained(status("dev", {"keep": "any"}, None))
        assert not kept.retained(status("dev", {"vigil.keep-logs": "true"}, None))
