"""`GET /api/metrics`: the figures the collectors publish, for Prometheus to scrape.

Operators who already run Prometheus and Grafana point a scrape job at it (with an API
key as the bearer token) and keep their dashboards: the names and labels are those of
the exporters the dashboards were made for, wherever Vigil measures the same thing.

- Docker containers, cAdvisor's: `container_cpu_usage_seconds_total`,
  `container_memory_working_set_bytes`, `container_spec_memory_limit_bytes`,
  `container_network_{receive,transmit}_bytes_total`, `container_fs_{reads,writes}_bytes_total`,
  `container_last_seen`, labelled `id` (`/docker/<short id>`), `name`, `image` and `host`.
- Kubernetes, the kubelet's resource metrics: `container_memory_working_set_bytes`
  (labelled `cluster`, `namespace`, `pod`, `container`), `pod_memory_working_set_bytes`,
  `node_memory_working_set_bytes`. metrics.k8s.io gives CPU as a rate, not a counter:
  `vigil_{container,pod,node}_cpu_usage_cores`.
- Hosts, node exporter's: `node_load{1,5,15}`, `node_filesystem_{size,avail}_bytes`,
  `node_boot_time_seconds`; and `vigil_host_cpu_percent`,
  `vigil_host_{memory_total,memory_available,swap_total,swap_free}_bytes` (node
  exporter's memory names are camelCase, which `promtool check metrics` refuses).

Each figure is the newest sample of its source (read from JetStream, as a poll reads
it). A source that stopped (its sample older than the gateway's staleness limit) is
left out, so Prometheus marks its series stale rather than repeating the last value. A
cluster is in the answer only for callers granted it.
"""

import time
from collections.abc import Iterator
from typing import Annotated

import nats.errors
from fastapi import APIRouter, Depends, Request, Response
from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from pydantic import ValidationError

from vigil.access import Principal, Role
from vigil.bus import Bus
from vigil.messages import (
    DockerStatsSampled,
    ErrorCode,
    HostMetricsSampled,
    K8sMetricsSampled,
)
from vigil.model import Message
from vigil.subjects import ANY
from vigil_gateway.access.permissions import SeesCluster, sees_message
from vigil_gateway.delivery.polling import MAX_LIMIT, fetch
from vigil_gateway.delivery.staleness import StaleAfter, interval_of
from vigil_gateway.http.http_auth import RoleRequired, refusal
from vigil_gateway.replica.gateway import Gateway

Reader = Annotated[Principal, Depends(RoleRequired(Role.VIEWER))]

Labels = dict[str, str]

_CPU = "CPU in use (cores)."
_WORKING_SET = "Current working set."
_LIMIT = "Memory limit."


def scrape_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/metrics", response_class=Response)
    async def scrape(request: Request, reader: Reader) -> Response:
        """The newest figures of every host, container, pod and node the caller may see,
        in Prometheus' text format (cAdvisor's, the kubelet's and node exporter's names)."""
        gateway: Gateway = request.app.state.gateway
        try:
            samples = await newest_samples(gateway.bus, reader.may_see_cluster, gateway.stale_after)
        except nats.errors.Error as exc:
            raise refusal(ErrorCode.UNAVAILABLE, f"the bus is unavailable: {exc}", 1) from None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Figures(samples))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def newest_samples(
    bus: Bus, sees_cluster: SeesCluster, stale_after: StaleAfter
) -> list[Message]:
    """The newest sample of every host, Docker host and cluster that is not stale and
    that `sees_cluster` allows."""
    subjects = bus.subjects
    sources: list[tuple[str, type[Message]]] = [
        (subjects.host_metrics(ANY), HostMetricsSampled),
        (subjects.docker_metrics(ANY), DockerStatsSampled),
        (subjects.k8s_metrics(ANY), K8sMetricsSampled),
    ]
    samples: list[Message] = []
    now = time.time()
    for subject, kind in sources:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        messages, _ = await fetch(bus, subject, config, MAX_LIMIT)
        for msg in messages:
            try:
                sample = kind.model_validate_json(msg.data)
            except ValidationError:
                continue  # malformed: no feed shows it either
            published = msg.metadata.timestamp
            interval_s = interval_of(sample)
            if published is None or interval_s is None:
                continue
            if now - published.timestamp() > stale_after.limit_s(interval_s):
                continue
            if sees_message(sees_cluster, sample):
                samples.append(sample)
    return samples


class _Figures:
    """The samples as metric families (a custom collector, asked once per scrape)."""

    def __init__(self, samples: list[Message]) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        for sample in self._samples:
            if isinstance(sample, DockerStatsSampled):
                _docker(families, sample)
            elif isinstance(sample, K8sMetricsSampled):
                _kubernetes(families, sample)
            elif isinstance(sample, HostMetricsSampled):
                _host(families, sample)
        yield from families.all()


class _Families:
    """The families of one scrape, made on first use, in the order first used. A family
    may hold samples of different label sets (a Docker container's and a pod's working
    set), as cAdvisor's do on a kubelet."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, name: str, help_text: str, labels: Labels, value: float) -> None:
        family_name = name.removesuffix("_total")  # a counter's samples add `_total`
        family = self._families.get(family_name)
        if family is None:
            kind = "counter" if name.endswith("_total") else "gauge"
            family = self._families[family_name] = Metric(family_name, help_text, kind)
        family.add_sample(name, labels, value)

    def all(self) -> Iterator[Metric]:
        yield from self._families.values()


def _docker(families: _Families, batch: DockerStatsSampled) -> None:
    seen = batch.time.timestamp()
    for c in batch.containers:
        labels = {"host": batch.host, "id": f"/docker/{c.id}", "name": c.name, "image": c.image}

        def add(name: str, help_text: str, value: float, labels: Labels = labels) -> None:
            families.add(name, help_text, labels, value)

        if c.cpu_seconds is not None:
            add("container_cpu_usage_seconds_total", "Cumulative CPU time consumed.", c.cpu_seconds)
        add("container_memory_working_set_bytes", _WORKING_SET, c.memory_usage)
        add("container_spec_memory_limit_bytes", _LIMIT, c.memory_limit)
        if not c.host_network:  # its figures would be 0, not the host's
            add("container_network_receive_bytes_total", "Bytes received.", c.network_rx)
            add("container_network_transmit_bytes_total", "Bytes transmitted.", c.network_tx)
        add("container_fs_reads_bytes_total", "Bytes read from block devices.", c.block_read)
        add("container_fs_writes_bytes_total", "Bytes written to block devices.", c.block_write)
        add("container_last_seen", "Last time the container was seen (Unix time).", seen)


def _kubernetes(families: _Families, batch: K8sMetricsSampled) -> None:
    for pod in batch.pods:
        at = {"cluster": batch.cluster, "namespace": pod.namespace, "pod": pod.name}
        families.add("vigil_pod_cpu_usage_cores", _CPU, at, pod.cpu_millicores / 1000)
        families.add("pod_memory_working_set_bytes", _WORKING_SET, at, pod.memory_bytes)
        for c in pod.containers:
            labels = at | {"container": c.name}
            families.add("vigil_container_cpu_usage_cores", _CPU, labels, c.cpu_millicores / 1000)
            families.add("container_memory_working_set_bytes", _WORKING_SET, labels, c.memory_bytes)
            if c.memory_limit_bytes is not None:
                families.add(
                    "container_spec_memory_limit_bytes", _LIMIT, labels, c.memory_limit_bytes
                )
    for node in batch.nodes:
        labels = {"cluster": batch.cluster, "node": node.id}
        families.add("vigil_node_cpu_usage_cores", _CPU, labels, node.cpu_millicores / 1000)
        families.add("node_memory_working_set_bytes", _WORKING_SET, labels, node.memory_bytes)


def _host(families: _Families, sample: HostMetricsSampled) -> None:
    host = {"host": sample.host}

    def add(name: str, help_text: str, value: float) -> None:
        families.add(name, help_text, host, value)

    add("vigil_host_cpu_percent", "CPU in use, all cores (0-100).", sample.cpu.percent)
    add("node_load1", "1m load average.", sample.load.one)
    add("node_load5", "5m load average.", sample.load.five)
    add("node_load15", "15m load average.", sample.load.fifteen)
    add("vigil_host_memory_total_bytes", "Memory total.", sample.memory.total)
    add("vigil_host_memory_available_bytes", "Memory available.", sample.memory.available)
    add("vigil_host_swap_total_bytes", "Swap total.", sample.swap.total)
    add("vigil_host_swap_free_bytes", "Swap free.", sample.swap.total - sample.swap.used)
    boot = sample.time.timestamp() - sample.uptime_s
    add("node_boot_time_seconds", "Boot time (Unix time).", boot)
    for fs in sample.filesystems:
        labels = host | {"device": fs.device, "fstype": fs.fstype, "mountpoint": fs.mountpoint}
        families.add("node_filesystem_size_bytes", "Filesystem size.", labels, fs.total)
        families.add("node_filesystem_avail_bytes", "Space available.", labels, fs.free)
