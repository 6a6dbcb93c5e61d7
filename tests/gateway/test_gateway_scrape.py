"""`GET /api/metrics`, the figures for Prometheus, on a real gateway and NATS: the
samples a collector publishes in the exporters' names, a cluster's only to callers
granted it, a source that stopped left out, `promtool check metrics` accepting the
answer, and the refusals (no credentials, the bus away).

The samples are published on the bus as a collector publishes them; the Docker test
(`tests/docker/test_docker_scrape.py`) has a real collector and Prometheus scraping.
"""

import asyncio
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.grant_support import granted
from tests.support import Samples, bearer, host_sample, samples, until
from vigil.bus import Bus
from vigil.messages import (
    ContainerUsage,
    FilesystemUsage,
    HostMetricsSampled,
    K8sMetricsSampled,
    LoadAverage,
    MemoryUsage,
    NodeUsage,
    PodUsage,
    SwapUsage,
    utc_now,
)


def value(figures: Samples, name: str, **labels: str) -> float | None:
    return figures.get((name, tuple(sorted(labels.items()))))


def cluster_batch(cluster: str, interval_s: float = 2.0) -> K8sMetricsSampled:
    pod = PodUsage(
        id="shop/web-1",
        namespace="shop",
        name="web-1",
        node="node-a",
        cpu_millicores=250.0,
        memory_bytes=64 << 20,
        containers=[
            ContainerUsage(
                name="web",
                cpu_millicores=250.0,
                memory_bytes=64 << 20,
                memory_limit_bytes=128 << 20,
            )
        ],
    )
    node = NodeUsage(id="node-a", cpu_millicores=1500.0, memory_bytes=2 << 30)
    return K8sMetricsSampled(
        cluster=cluster,
        time=utc_now(),
        interval_s=interval_s,
        metrics_available=True,
        pods=[pod],
        nodes=[node],
    )


def web1() -> HostMetricsSampled:
    """Host web1 as its collector samples it (figures chosen to be told apart)."""
    sample = host_sample(cpu=12.5, host="web1")
    return sample.model_copy(
        update={
            "load": LoadAverage(one=0.5, five=0.25, fifteen=0.125),
            "memory": MemoryUsage(total=8 << 30, available=6 << 30, used=2 << 30, percent=25.0),
            "swap": SwapUsage(total=1 << 30, used=1 << 28, percent=25.0),
            "filesystems": [
                FilesystemUsage(
                    mountpoint="/",
                    device="/dev/sda1",
                    fstype="ext4",
                    total=100 << 30,
                    used=40 << 30,
                    free=60 << 30,
                    percent=40.0,
                )
            ],
        }
    )


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as client:
        yield client


async def scrape(http: httpx.AsyncClient, token: str) -> str:
    response = await http.get("/api/metrics", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


async def test_hosts_and_clusters_in_the_exporters_names_a_cluster_only_for_its_grant(
    http: httpx.AsyncClient, alerts_bus: Bus, admin_token: str
) -> None:
    bus = alerts_bus
    await bus.publish(bus.subjects.host_metrics("web1"), web1())
    for cluster in ("alpha", "beta"):
        await bus.publish(bus.subjects.k8s_metrics(cluster), cluster_batch(cluster))
    ann = await granted(http, admin_token, "ann", ["alpha"])

    async def both_clusters() -> Samples | None:
        figures = samples(await scrape(http, admin_token))
        pods = [labels for name, labels in figures if name == "pod_memory_working_set_bytes"]
        return figures if len(pods) == 2 else None

    admin = await until(both_clusters, "both clusters in the admin's scrape")
    pod = {"cluster": "alpha", "namespace": "shop", "pod": "web-1"}
    assert value(admin, "pod_memory_working_set_bytes", **pod) == 64 << 20
    assert value(admin, "vigil_pod_cpu_usage_cores", **pod) == 0.25
    web = pod | {"container": "web"}
    assert value(admin, "container_memory_working_set_bytes", **web) == 64 << 20
    assert value(admin, "container_spec_memory_limit_bytes", **web) == 128 << 20
    assert value(admin, "vigil_container_cpu_usage_cores", **web) == 0.25
    node = {"cluster": "beta", "node": "node-a"}
    assert value(admin, "node_memory_working_set_bytes", **node) == 2 << 30
    assert value(admin, "vigil_node_cpu_usage_cores", **node) == 1.5
    host = {"host": "web1"}
    assert value(admin, "node_load1", **host) == 0.5
    assert value(admin, "node_load15", **host) == 0.125
    assert value(admin, "vigil_host_cpu_percent", **host) == 12.5
    assert value(admin, "vigil_host_memory_available_bytes", **host) == 6 << 30
    assert value(admin, "vigil_host_swap_free_bytes", **host) == (1 << 30) - (1 << 28)
    root = host | {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
    assert value(admin, "node_filesystem_avail_bytes", **root) == 60 << 30
    assert value(admin, "node_filesystem_size_bytes", **root) == 100 << 30

    text = await scrape(http, ann)
    mine = samples(text)
    clusters = {dict(labels).get("cluster") for _, labels in mine} - {None}
    assert clusters == {"alpha"}  # beta's pods and nodes are not even named
    assert "beta" not in text
    assert value(mine, "node_load1", **host) == 0.5  # a host concerns no cluster

    checked = await asyncio.to_thread(
        subprocess.run,
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_a_source_that_stopped_is_left_out_so_prometheus_marks_it_stale(
    http: httpx.AsyncClient, alerts_bus: Bus, admin_token: str
) -> None:
    bus = alerts_bus
    # Sampled every 0.1 s and then never again: stale after the gateway's floor, 3 s.
    await bus.publish(bus.subjects.k8s_metrics("gone"), cluster_batch("gone", interval_s=0.1))
    await bus.publish(bus.subjects.k8s_metrics("live"), cluster_batch("live", interval_s=60))

    async def clusters() -> set[str | None]:
        figures = samples(await scrape(http, admin_token))
        return {dict(labels).get("cluster") for _, labels in figures} - {None}

    assert await clusters() == {"gone", "live"}

    async def gone_left_out() -> set[str | None] | None:
        seen = await clusters()
        return seen if "gone" not in seen else None

    assert await until(gone_left_out, "the stopped cluster left out", 10) == {"live"}


async def test_no_credentials_is_401_and_an_unknown_token_too(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/metrics")
    forged = await http.get("/api/metrics", headers=bearer("not-a-token"))
    for response in (missing, forged):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]["code"] == "INVALID_CREDENTIALS"
