"""The collector's Kubernetes source against a real API server: pod metrics as
metrics.k8s.io reports them, joined with requests and limits; pod status from a watch
that resumes without repeats; one replica per cluster, with fail-over."""

import asyncio
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.docker_support import heard, next_that
from tests.k8s_cluster import Cluster
from tests.k8s_support import (
    collecting,
    container,
    delete_pod,
    k8s_settings,
    pod_metrics,
    run_pod,
)
from tests.support import NatsServer, bus_client, wait_for
from vigil.busauth.permissions import ServiceRole
from vigil.messages import AlertChanged, AlertState, K8sMetricsSampled, PodStatusChanged
from vigil.streams import ALERTS
from vigil.subjects import ANY
from vigil_collector.kubernetes import pod_metrics as metrics_sampler
from vigil_collector.kubernetes.kube import millicores
from vigil_collector.kubernetes.pod_log_reader import pod_line
from vigil_collector.logs.redaction import Redactor


@pytest.mark.alone  # spins a CPU and measures it
async def test_busy_pods_cpu_appears_within_30_s_near_the_metrics_api_figure(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, namespace: str
) -> None:
    busy = container("spin", k8s_cluster.image, "while :; do :; done", cpu_limit="300m")
    run_pod(k8s_cluster, namespace, "busy", busy)
    settings = k8s_settings(nats_server, prefix, k8s_cluster)
    async with bus_client(nats_server, prefix) as bus:
        subject = bus.subjects.k8s_metrics(k8s_cluster.context)
        async with heard(bus, subject, K8sMetricsSampled) as batches, collecting(settings):
            started = time.monotonic()

            def busy_in(batch: K8sMetricsSampled) -> bool:
                pods = {pod.id: pod for pod in batch.pods}
                pod = pods.get(f"{namespace}/busy")
                return pod is not None and pod.cpu_millicores > 150

            batch = await next_that(batches, busy_in, "the busy pod's CPU", timeout=30)
            assert time.monotonic() - started < 30
            reference = await asyncio.to_thread(pod_metrics, k8s_cluster, namespace, "busy")
    assert batch.metrics_available
    pod = next(p for p in batch.pods if p.id == f"{namespace}/busy")
    assert reference is not None
    expected = sum(millicores(c["usage"]["cpu"]) or 0 for c in reference["containers"])
    assert abs(pod.cpu_millicores - expected) <= 0.2 * expected, (pod.cpu_millicores, expected)
    assert pod.cpu_millicores < 1000  # the limit holds it near 300m (rates over 2 s windows vary)
    # joined with the spec: requests and limits, per container and summed
    assert pod.cpu_limit_millicores == 300
    assert pod.cpu_request_millicores == 300
    assert pod.memory_limit_bytes == 64 * 1024**2
    assert pod.containers[0].name == "spin"
    assert pod.memory_bytes > 0
    assert pod.node
    assert batch.nodes
    assert batch.nodes[0].id == pod.node
    assert batch.nodes[0].cpu_millicores >= pod.cpu_millicores * 0.8
    assert batch.nodes[0].cpu_allocatable_millicores


async def test_crashing_pods_restarts_and_crash_loop_back_off_are_published_and_alerted(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, namespace: str
) -> None:
    crashing = "echo starting; echo auth: Bearer s3cr3t-v4lue; echo out of cheese >&2; exit 3"
    run_pod(k8s_cluster, namespace, "crash", container("main", k8s_cluster.image, crashing))
    settings = k8s_settings(nats_server, prefix, k8s_cluster)
    async with bus_client(nats_server, prefix) as bus:
        await bus.js.add_stream(ALERTS.config(bus.subjects))
        subject = bus.subjects.k8s_status(k8s_cluster.context, namespace, "crash")
        async with (
            heard(bus, subject, PodStatusChanged) as statuses,
            heard(bus, bus.subjects.alerts("k8s"), AlertChanged) as alerts,
            collecting(settings),
        ):
            looping = await next_that(
                statuses,
                lambda s: s.reason == "CrashLoopBackOff" and s.restarts >= 1,
                "CrashLoopBackOff",
                timeout=60,
            )
            raised = await next_that(
                alerts, lambda a: a.metric == "BackOff", "a BackOff alert", timeout=30
            )
            await asyncio.to_thread(delete_pod, k8s_cluster, namespace, "crash")
            resolved = await next_that(  # (the pod's other events, e.g. FailedMount, resolve too)
                alerts,
                lambda a: a.state is AlertState.RESOLVED and a.metric == "BackOff",
                "its resolution",
                timeout=60,
            )
    assert looping.phase == "Running"
    assert not looping.ready
    assert looping.containers[0].name == "main"
    assert looping.node
    assert raised.state is AlertState.RAISED
    assert (raised.cluster, resolved.cluster) == (k8s_cluster.context,) * 2  # its grant's
    assert raised.host == k8s_cluster.context
    assert raised.id == f"k8s:{k8s_cluster.context}:{namespace}/crash:BackOff"
    assert f"{namespace}/crash" in raised.message
    assert resolved.id == raised.id
    # the raised alert carries the pod's last lines, redacted; its resolution none
    assert raised.log_lines is not None
    texts = [line.split(" ", 1)[1] for line in raised.log_lines]
    # (stdout and stderr are two pipes: the runtime may log their lines in either order)
    assert sorted(texts[-3:]) == ["auth: Bearer [REDACTED]", "out of cheese", "starting"]
    assert resolved.log_lines is None


async def test_a_dropped_watch_resumes_without_repeating_a_status(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, namespace: str
) -> None:
    settings = k8s_settings(nats_server, prefix, k8s_cluster)
    image = k8s_cluster.image
    async with bus_client(nats_server, prefix) as bus:
        subject = bus.subjects.k8s_status(k8s_cluster.context, namespace, ANY)
        async with heard(bus, subject, PodStatusChanged) as statuses:
            async with collecting(settings) as collector:
                source = collector.kubernetes
                assert source is not None
                await wait_for(lambda: bool(source.following), "the cluster's lease", 10)
                follower = source.following[k8s_cluster.context]
                await wait_for(lambda: follower.watch is not None, "the watch", 10)
                watch = follower.watch
                assert watch is not None
                run_pod(k8s_cluster, namespace, "first", container("c", image, "sleep 3600"))
                await next_that(statuses, lambda s: s.pod == "first" and s.ready, "first ready")
                version = watch.resource_version
                for _ in range(3):  # drop the connection, as a network failure would
                    watch.interrupt()
                    await asyncio.sleep(0.3)
                run_pod(k8s_cluster, namespace, "second", container("c", image, "sleep 3600"))
                await next_that(statuses, lambda s: s.pod == "second" and s.ready, "second")
                assert watch.resource_version != version
            seen: list[PodStatusChanged] = []
            while not statuses.empty():
                seen.append(statuses.get_nowait())
    # after the drops, nothing was listed again and no change came twice
    assert all(s.event != "snapshot" for s in seen), [s.event for s in seen]
    versions = [(s.pod, s.resource_version) for s in seen]
    assert len(versions) == len(set(versions)), versions


async def test_an_expired_watch_lists_again_and_goes_on(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vigil_collector")
    settings = k8s_settings(nats_server, prefix, k8s_cluster)
    image = k8s_cluster.image
    async with bus_client(nats_server, prefix) as bus:
        subject = bus.subjects.k8s_status(k8s_cluster.context, namespace, ANY)
        async with heard(bus, subject, PodStatusChanged) as statuses, collecting(settings) as c:
            source = c.kubernetes
            assert source is not None
            await wait_for(lambda: bool(source.following), "the cluster's lease", 10)
            cluster = k8s_cluster.context
            follower = source.following[cluster]
            await wait_for(lambda: follower.watch is not None, "the watch", 10)
            watch = follower.watch
            assert watch is not None
            run_pod(k8s_cluster, namespace, "kept", container("c", image, "sleep 3600"))
            await next_that(statuses, lambda s: s.pod == "kept" and s.ready, "kept ready")
            watch.resume_from("1")  # compacted away long ago: the server answers 410 Gone
            try:
                relisted = await next_that(
                    statuses, lambda s: s.pod == "kept" and s.event == "snapshot", "a relist"
                )
            except AssertionError as exc:
                follows = "the same" if source.following.get(cluster) is follower else "replaced"
                said = "\n".join(
                    r.getMessage() for r in caplog.records if r.name.startswith("vigil")
                )
                raise AssertionError(
                    f"{exc} after the watch resumed from a compacted version (now at"
                    f" {watch.resource_version}; the follower {follows});"
                    f" the collector said:\n{said}"
                ) from None
            run_pod(k8s_cluster, namespace, "after", container("c", image, "sleep 3600"))
            after = await next_that(statuses, lambda s: s.pod == "after" and s.ready, "after")
    assert relisted.ready
    assert after.event != "snapshot"  # watched again, from the list's version
    assert "watch expired (410); listing again" in caplog.text


async def test_a_cluster_without_metrics_api_says_so_and_still_gets_status(
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same API server, asked for a metrics group it does not serve (as a cluster
    # without metrics-server answers): 404, not a failure of the collector.
    monkeypatch.setattr(metrics_sampler, "_GROUP", "metrics.absent.example.com")
    settings = k8s_settings(nats_server, prefix, k8s_cluster)
    async with bus_client(nats_server, prefix) as bus:
        metrics = bus.subjects.k8s_metrics(k8s_cluster.context)
        status = bus.subjects.k8s_status(k8s_cluster.context, namespace, ANY)
        async with (
            heard(bus, metrics, K8sMetricsSampled) as batches,
            heard(bus, status, PodStatusChanged) as statuses,
            collecting(settings),
        ):
            batch = await next_that(batches, lambda b: True, "a metrics batch", 20)
            run_pod(
                k8s_cluster, namespace, "plain", container("c", k8s_cluster.image, "sleep 3600")
            )
            await next_that(statuses, lambda s: s.pod == "plain" and s.ready, "status", 30)
    assert not batch.metrics_available
    assert "metrics" in batch.reason
    assert (batch.pods, batch.nodes) == ([], [])


async def test_two_collector_replicas_publish_each_cluster_once_and_fail_over(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, tmp_path: Path
) -> None:
    settings = k8s_settings(nats_server, prefix, k8s_cluster, k8s_interval_s=1.0)
    cluster = k8s_cluster.context
    env = os.environ | {
        **nats_server.service_env(ServiceRole.COLLECTOR, prefix, host="doomed"),
        "VIGIL_COLLECTOR_HOST": "doomed",
        "VIGIL_COLLECTOR_DOCKER": "off",
        "VIGIL_COLLECTOR_INTERVAL_S": "30",
        "VIGIL_COLLECTOR_KUBECONFIG": k8s_cluster.kubeconfig,
        "VIGIL_COLLECTOR_K8S_CONTEXTS": json.dumps([cluster]),
        "VIGIL_COLLECTOR_K8S_INTERVAL_S": "1",
        "VIGIL_COLLECTOR_K8S_LEASE_S": str(settings.k8s_lease_s),
    }
    with (tmp_path / "doomed.log").open("wb") as log:
        doomed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vigil_collector", env=env, stdout=log, stderr=log
        )
    try:
        async with bus_client(nats_server, prefix) as bus:
            subject = bus.subjects.k8s_metrics(cluster)
            async with heard(bus, subject, K8sMetricsSampled) as batches:
                await next_that(batches, lambda b: True, "the first replica's batch", 30)
                async with collecting(settings) as standby_collector:
                    standby = standby_collector.kubernetes
                    assert standby is not None
                    while not batches.empty():
                        batches.get_nowait()
                    started = time.monotonic()
                    await asyncio.sleep(5)
                    counted, elapsed = batches.qsize(), time.monotonic() - started
                    # one publisher at 1 s: about 5 batches; two would make about 10
                    assert elapsed - 2.5 <= counted <= elapsed + 1.5, (counted, elapsed)
                    assert cluster not in standby.following

                    doomed.kill()  # dies without giving its lease up
                    await doomed.wait()
                    died = time.monotonic()
                    await wait_for(lambda: cluster in standby.following, "take-over", 15)
                    while not batches.empty():
                        batches.get_nowait()
                    await next_that(batches, lambda b: True, "the standby's batch", 10)
                    took_over = time.monotonic() - died
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
    # the lease ran out (3 s) and the standby looks every third of it
    assert took_over < settings.k8s_lease_s * 2 + 3, took_over


def test_a_pod_log_line_is_read_from_its_stamp_and_the_apis_own_unstamped_word_is_not() -> None:
    redactor = Redactor([], defaults=True)
    stamped = b"2026-11-23T09:00:00.123456789Z using postgres://app:hunter2@db:5432/orders"
    line, nanos = pod_line(stamped, 1000, redactor) or pytest.fail("a stamped line was lost")
    assert line.time == datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    assert nanos % 1_000_000_000 == 123456789
    assert line.text.startswith("using postgres://")
    assert "hunter2" not in line.text
    gone = b"rpc error: code = NotFound desc = Error: No such container: 5f0c1a"
    assert pod_line(gone, 1000, redactor) is None
