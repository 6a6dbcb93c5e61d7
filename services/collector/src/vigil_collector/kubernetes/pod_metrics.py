"""One metrics batch of a cluster: pod and node usage from metrics.k8s.io, joined with
the pods' requests and limits and the nodes' allocatable resources.

Blocking (the caller runs `sample` in a worker thread). A cluster without the metrics
API (404, 503 while metrics-server starts) gets a batch that says so, with empty lists;
an API server that does not answer raises `KubernetesUnavailable`.
"""

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from vigil.messages import ContainerUsage, K8sMetricsSampled, NodeUsage, PodUsage, utc_now
from vigil_collector.kubernetes import kube
from vigil_collector.kubernetes.pod_status import key_of

_GROUP, _VERSION = "metrics.k8s.io", "v1beta1"


def _resources(container: Mapping[str, Any]) -> dict[str, Any]:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return {
        "cpu_request_millicores": kube.millicores(requests.get("cpu")),
        "cpu_limit_millicores": kube.millicores(limits.get("cpu")),
        "memory_request_bytes": kube.bytes_of(requests.get("memory")),
        "memory_limit_bytes": kube.bytes_of(limits.get("memory")),
    }


def _pod(usage: Mapping[str, Any], spec: Mapping[str, Any] | None) -> PodUsage | None:
    key = key_of(usage)
    if key is None:
        return None
    declared = {c.get("name"): c for c in ((spec or {}).get("spec") or {}).get("containers") or []}
    containers = [
        ContainerUsage(
            name=c["name"],
            cpu_millicores=kube.millicores(c["usage"].get("cpu")) or 0.0,
            memory_bytes=kube.bytes_of(c["usage"].get("memory")) or 0,
            **_resources(declared.get(c["name"]) or {}),
        )
        for c in usage.get("containers") or []
    ]
    namespace, name = key
    return PodUsage(
        id=f"{namespace}/{name}",
        namespace=namespace,
        name=name,
        node=((spec or {}).get("spec") or {}).get("nodeName"),
        cpu_millicores=sum(c.cpu_millicores for c in containers),
        memory_bytes=sum(c.memory_bytes for c in containers),
        cpu_request_millicores=kube.total([c.cpu_request_millicores for c in containers]),
        cpu_limit_millicores=kube.total([c.cpu_limit_millicores for c in containers]),
        memory_request_bytes=kube.total([c.memory_request_bytes for c in containers]),
        memory_limit_bytes=kube.total([c.memory_limit_bytes for c in containers]),
        containers=containers,
    )


def _node(usage: Mapping[str, Any], node: Mapping[str, Any] | None) -> NodeUsage:
    allocatable = ((node or {}).get("status") or {}).get("allocatable") or {}
    cpu = kube.millicores(usage["usage"].get("cpu")) or 0.0
    memory = kube.bytes_of(usage["usage"].get("memory")) or 0
    cpu_total = kube.millicores(allocatable.get("cpu"))
    memory_total = kube.bytes_of(allocatable.get("memory"))
    return NodeUsage(
        id=usage["metadata"]["name"],
        cpu_millicores=cpu,
        memory_bytes=memory,
        cpu_allocatable_millicores=cpu_total,
        memory_allocatable_bytes=memory_total,
        cpu_percent=round(100 * cpu / cpu_total, 2) if cpu_total else None,
        memory_percent=round(100 * memory / memory_total, 2) if memory_total else None,
    )


class MetricsSampler:
    def __init__(self, api_client: Any, cluster: str, interval_s: float, timeout_s: float):
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._cluster = cluster
        self._interval_s = interval_s
        self._timeout_s = timeout_s

    def sample(self) -> K8sMetricsSampled:
        try:
            pod_usage = self._metrics("pods")
            node_usage = self._metrics("nodes")
        except kube.UNREACHABLE as exc:
            if isinstance(exc, client.ApiException) and exc.status in (404, 503):
                return self._unavailable(f"metrics.k8s.io: {kube.describe(exc)}")
            raise kube.unavailable(exc) from exc
        try:
            pods = self._core.list_pod_for_all_namespaces(_request_timeout=self._timeout_s)
            nodes = self._core.list_node(_request_timeout=self._timeout_s)
        except kube.UNREACHABLE as exc:
            raise kube.unavailable(exc) from exc
        client_side = self._core.api_client
        specs = {key_of(p): p for p in client_side.sanitize_for_serialization(pods.items)}
        node_specs = {
            n["metadata"]["name"]: n for n in client_side.sanitize_for_serialization(nodes.items)
        }
        pod_list = [_pod(usage, specs.get(key_of(usage))) for usage in pod_usage]
        return K8sMetricsSampled(
            cluster=self._cluster,
            time=utc_now(),
            interval_s=self._interval_s,
            metrics_available=True,
            pods=sorted((p for p in pod_list if p is not None), key=lambda p: p.id),
            nodes=[_node(u, node_specs.get(u["metadata"]["name"])) for u in node_usage],
        )

    def _metrics(self, plural: str) -> list[Mapping[str, Any]]:
        listed = self._custom.list_cluster_custom_object(
            _GROUP, _VERSION, plural, _request_timeout=self._timeout_s
        )
        return list(listed.get("items") or [])

    def _unavailable(self, reason: str) -> K8sMetricsSampled:
        return K8sMetricsSampled(
            cluster=self._cluster,
            time=utc_now(),
            interval_s=self._interval_s,
            metrics_available=False,
            reason=reason,
            pods=[],
            nodes=[],
        )
