"""What the collector publishes about a Kubernetes cluster: metrics batches, pod status,
log batches, and the lease on a pod's logs."""

from datetime import datetime

from pydantic import AwareDatetime, Field

from vigil.messages.common import omitted_when_none
from vigil.messages.docker import LogLine
from vigil.model import Message
from vigil.names import ClusterName, NamespaceName, PodName


class ContainerUsage(Message):
    """One container of a pod: its usage (metrics.k8s.io) and its spec's requests and limits."""

    name: str
    cpu_millicores: float
    memory_bytes: int = Field(description="The working set, as `kubectl top` shows.")
    cpu_request_millicores: float | None = omitted_when_none()
    cpu_limit_millicores: float | None = omitted_when_none()
    memory_request_bytes: int | None = omitted_when_none()
    memory_limit_bytes: int | None = omitted_when_none()


class PodUsage(Message):
    """One pod in a metrics batch; the sums of its containers."""

    id: str = Field(description="`namespace/name`: unique in the cluster (deltas key on it).")
    namespace: NamespaceName
    name: PodName
    node: str | None = omitted_when_none()
    cpu_millicores: float
    memory_bytes: int
    cpu_request_millicores: float | None = omitted_when_none()
    cpu_limit_millicores: float | None = omitted_when_none()
    memory_request_bytes: int | None = omitted_when_none()
    memory_limit_bytes: int | None = omitted_when_none()
    containers: list[ContainerUsage]


class NodeUsage(Message):
    id: str = Field(description="The node's name (deltas key on it).")
    cpu_millicores: float
    memory_bytes: int
    cpu_allocatable_millicores: float | None = omitted_when_none()
    memory_allocatable_bytes: int | None = omitted_when_none()
    cpu_percent: float | None = omitted_when_none()
    memory_percent: float | None = omitted_when_none()


class K8sMetricsSampled(Message):
    """Every pod and node of one cluster, on `metrics.k8s.{cluster}`. Without
    metrics.k8s.io the lists are empty and `metrics_available` is false, saying why."""

    cluster: ClusterName
    time: datetime
    interval_s: float
    metrics_available: bool
    reason: str = ""
    pods: list[PodUsage]
    nodes: list[NodeUsage]


class ContainerStatus(Message):
    name: str
    ready: bool
    restarts: int
    state: str = Field(description="waiting, running or terminated.")
    reason: str | None = omitted_when_none()
    exit_code: int | None = omitted_when_none()


class PodOwner(Message):
    """The workload a pod belongs to: `Deployment` (found through its ReplicaSet),
    `StatefulSet`, `DaemonSet`, or whatever else controls it (`Job`, a bare
    `ReplicaSet`...)."""

    kind: str
    name: str


class PodStatusChanged(Message):
    """A pod's status, on `status.k8s.{cluster}.{namespace}.{pod}`: after each change the
    watch sees (`event`: added, modified, deleted), and for every pod on a (re)list
    (`snapshot`)."""

    cluster: ClusterName
    namespace: NamespaceName
    pod: PodName
    phase: str = Field(description="Pending, Running, Succeeded, Failed, Unknown, or Deleted.")
    ready: bool
    restarts: int = Field(description="Of all its containers.")
    reason: str | None = omitted_when_none()
    """Why it is not well: CrashLoopBackOff, OOMKilled, ImagePullBackOff, Error, Evicted..."""
    node: str | None = omitted_when_none()
    containers: list[ContainerStatus]
    event: str = Field(description="added, modified, deleted, or snapshot (a (re)list).")
    resource_version: str = Field(description="The pod object's; empty for a relist's deletion.")
    time: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    """The pod's labels, so a merged log view can select pods by label."""
    owner: PodOwner | None = omitted_when_none()
    """Its workload (none for a bare pod), so a view can select a Deployment's pods."""
    uid: str | None = omitted_when_none(
        "The pod object's uid: a pod recreated under its name (a StatefulSet's) has a new one."
    )


class PodLogBatch(Message):
    """Lines of one pod's container, in order, on `logs.k8s.{cluster}.{namespace}.{pod}`."""

    cluster: ClusterName
    namespace: NamespaceName
    pod: PodName
    container: str
    lines: list[LogLine]
    kept: bool | None = omitted_when_none(
        "True: the pod is retained, so these lines are in LOGS_KEPT too (a search reads "
        "them there, not here)."
    )


class PodGeneration(Message):
    """The marker between a retained pod container's generations: a new pod (uid) or a
    restart of the container (its restart count)."""

    pod: PodName
    uid: str
    restarts: int


class KeptPodLogBatch(Message):
    """Lines of a retained pod's container, in order, on
    `keptlogs.k8s.{cluster}.{namespace}.{workload}`: `workload` is the pod's stable key
    (its Deployment's, ReplicaSet's, DaemonSet's or Job's name; a StatefulSet's or a bare
    pod's own name), so the pods that replace each other read as one history. `pod` and
    `container` are where the lines come from; `generation` is set on the first batch
    of each pod and restart followed. Compact, as `KeptLogBatch`: each line is its time
    in microseconds after `start` and its text (the API gives no stream: stdout)."""

    cluster: ClusterName
    namespace: NamespaceName
    workload: PodName
    pod: PodName
    container: str
    generation: PodGeneration | None = omitted_when_none()
    start: int = Field(description="The first line's time, in epoch microseconds.")
    lines: list[tuple[int, str]] = Field(
        description="Each line: microseconds after `start`, its redacted text."
    )


class FollowPodLogs(Message):
    """On `ctl.logs.k8s_follow`: hold (or renew) the lease on a pod's logs, as
    `FollowLogs` does for a container. `container` defaults to the pod's first."""

    cluster: ClusterName
    namespace: NamespaceName
    pod: PodName
    container: str | None = omitted_when_none()
    holder: str = Field(max_length=64, description="Who holds it, e.g. a gateway's id.")
    lease_s: float = Field(ge=0, le=300)
    tail: int = Field(default=100, ge=0, le=10_000)


class ReadPodLogs(Message):
    """On `ctl.logs.k8s_page`: scroll-back, as `ReadLogs` for a container: up to `limit`
    lines of a pod's container from before `before` (the newest, without); the reply
    is a `LogPage`."""

    cluster: ClusterName
    namespace: NamespaceName
    pod: PodName
    container: str | None = omitted_when_none()
    before: AwareDatetime | None = Field(
        default=None, description="The time of the oldest line the client has."
    )
    limit: int = Field(default=100, ge=1, le=1000)


class PodLogsFollowed(Message):
    cluster: ClusterName
    namespace: NamespaceName
    pod: PodName
    container: str
    following: bool
    holders: int


class ClusterLease(Message):
    """In the `K8S_CLUSTERS` bucket, keyed by cluster: the collector replica that follows
    it, until when (epoch seconds). Another takes it over once `until` has passed."""

    holder: str
    until: float
