"""A pod object (the API's JSON) as the `PodStatusChanged` Vigil publishes, and the pods
of one cluster a watch has seen, so that a relist can say which ones went away.

Each status carries the pod's labels and its owner workload, so the gateway can select
a Deployment's or a label's pods for a merged log view. Pure: no I/O. Pods whose
namespace or name cannot be a subject token are skipped (Kubernetes allows dots in pod
names; subjects do not).
"""

from collections.abc import Mapping
from typing import Any

from vigil.errors import InvalidName
from vigil.messages import ContainerStatus, PodOwner, PodStatusChanged, utc_now
from vigil.names import NameKind, validate_name

# Reasons that say a container is only on its way, not unwell.
_ON_ITS_WAY = {"ContainerCreating", "PodInitializing", "Completed"}


def _container(status: Mapping[str, Any]) -> ContainerStatus:
    state_name, state = next(iter((status.get("state") or {"waiting": {}}).items()))
    state = state or {}
    return ContainerStatus(
        name=status.get("name", ""),
        ready=bool(status.get("ready")),
        restarts=int(status.get("restartCount") or 0),
        state=state_name,
        reason=state.get("reason"),
        exit_code=state.get("exitCode"),
    )


def _reason(pod_status: Mapping[str, Any], containers: list[ContainerStatus]) -> str | None:
    for container in containers:
        if container.reason and container.reason not in _ON_ITS_WAY:
            return container.reason
    reason = pod_status.get("reason")
    return str(reason) if reason else None


def _ready(pod_status: Mapping[str, Any]) -> bool:
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in pod_status.get("conditions") or []
    )


def owner_of(meta: Mapping[str, Any]) -> PodOwner | None:
    """The workload controlling the pod. A Deployment's pods are owned by one of its
    ReplicaSets, named `{deployment}-{pod-template-hash}` by the Deployment controller:
    that name, less the hash the pod carries as a label, is the Deployment's. (Reading
    the ReplicaSet's own owner would cost a watch of ReplicaSets for the same answer.)"""
    owners = meta.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), None)
    if owner is None or not owner.get("kind") or not owner.get("name"):
        return None
    kind, name = str(owner["kind"]), str(owner["name"])
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return PodOwner(kind="Deployment", name=name.removesuffix(f"-{template_hash}"))
    return PodOwner(kind=kind, name=name)


def key_of(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The pod's (namespace, name), or None when they cannot be subject tokens."""
    meta = pod.get("metadata") or {}
    try:
        return (
            validate_name(NameKind.NAMESPACE, meta.get("namespace")),
            validate_name(NameKind.POD, meta.get("name")),
        )
    except InvalidName:
        return None


def status_of(cluster: str, pod: Mapping[str, Any], event: str) -> PodStatusChanged | None:
    key = key_of(pod)
    if key is None:
        return None
    namespace, name = key
    status = pod.get("status") or {}
    containers = [
        _container(c)
        for c in (status.get("initContainerStatuses") or [])
        + (status.get("containerStatuses") or [])
    ]
    deleted = event == "deleted"
    meta = pod.get("metadata") or {}
    return PodStatusChanged(
        cluster=cluster,
        namespace=namespace,
        pod=name,
        phase="Deleted" if deleted else str(status.get("phase") or "Unknown"),
        ready=False if deleted else _ready(status),
        restarts=sum(c.restarts for c in containers),
        reason=_reason(status, containers),
        node=(pod.get("spec") or {}).get("nodeName"),
        containers=containers,
        event=event,
        resource_version=str(meta.get("resourceVersion") or ""),
        time=utc_now(),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        owner=owner_of(meta),
        uid=str(meta["uid"]) if meta.get("uid") else None,
    )


class PodStates:
    """The pods of one cluster as last published: what changed, what a relist dropped."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._pods: dict[tuple[str, str], PodStatusChanged] = {}

    def apply(self, kind: str, pod: Mapping[str, Any]) -> PodStatusChanged | None:
        """A watch event (ADDED, MODIFIED, DELETED) as a status to publish, or None."""
        message = status_of(self.cluster, pod, kind.lower())
        if message is None:
            return None
        key = (message.namespace, message.pod)
        if message.event == "deleted":
            self._pods.pop(key, None)
        else:
            self._pods[key] = message
        return message

    def relist(self, pods: list[Mapping[str, Any]]) -> list[PodStatusChanged]:
        """A fresh list: every pod's status, then `deleted` for those no longer there."""
        before = set(self._pods)
        self._pods.clear()
        messages = []
        for pod in pods:
            message = status_of(self.cluster, pod, "snapshot")
            if message is not None:
                self._pods[(message.namespace, message.pod)] = message
                messages.append(message)
        for namespace, name in sorted(before - set(self._pods)):
            messages.append(self.gone(namespace, name))
        return messages

    def gone(self, namespace: str, name: str) -> PodStatusChanged:
        return PodStatusChanged(
            cluster=self.cluster,
            namespace=namespace,
            pod=name,
            phase="Deleted",
            ready=False,
            restarts=0,
            containers=[],
            event="deleted",
            resource_version="",
            time=utc_now(),
        )

    @property
    def pods(self) -> dict[tuple[str, str], PodStatusChanged]:
        return self._pods
