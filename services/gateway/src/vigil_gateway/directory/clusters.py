"""The Kubernetes clusters, namespaces and pods the collectors have announced.

The directory follows the last metrics batch of every cluster (`metrics.k8s.*`) and
the last status of every pod (`status.k8s.*.*.*`) from JetStream, then live, as the
container directory does for Docker. `check` refuses what no collector knows with
NOT_FOUND, so a subscription to a typo fails instead of staying silent; as the hub's
watcher of `k8s.metrics` and `k8s.status` it admits only known ones. `select` gives
the running pods a `PodSelector` picks, and listeners hear of every pod change, so a
merged log view follows pods as they come and go. It holds nothing another replica
would need: every replica builds the same one.
"""

from dataclasses import dataclass

from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.messages import ErrorCode, K8sMetricsSampled, PodStatusChanged
from vigil.subjects import ANY
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.directory.latest import Directory, Follow
from vigil_gateway.directory.pod_selector import PodSelector
from vigil_gateway.errors import ChannelRefused

CHANNELS = ("k8s.metrics", "k8s.status")  # admitted here


@dataclass(frozen=True)
class Pod:
    cluster: str
    namespace: str
    name: str


class ClusterDirectory(Directory):
    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self._metrics: dict[str, K8sMetricsSampled] = {}
        self._pods: dict[str, dict[tuple[str, str], PodStatusChanged]] = {}

    def _follows(self) -> list[Follow]:
        subjects = self._bus.subjects
        return [  # pods first: questions wait until their backlog is read
            Follow(subjects.k8s_status(ANY, ANY, ANY), PodStatusChanged, self._on_status),
            Follow(subjects.k8s_metrics(ANY), K8sMetricsSampled, self._on_metrics),
        ]

    # -- questions -----------------------------------------------------------------------

    async def clusters(self) -> list[str]:
        await self._latest.caught_up()
        return sorted(set(self._metrics) | set(self._pods))

    async def pods(self, cluster: str) -> list[PodStatusChanged]:
        """The last status of every pod of `cluster` (NOT_FOUND when unknown)."""
        await self.check(cluster)
        pods = self._pods.get(cluster, {})
        return [pods[key] for key in sorted(pods)]

    async def select(self, selector: PodSelector) -> list[Pod]:
        """The running pods the selector picks (a pending pod has no logs to read yet;
        a terminating one is still running), by cluster, namespace and name."""
        await self._latest.caught_up()
        return [
            Pod(status.cluster, status.namespace, status.pod)
            for cluster in sorted(self._pods)
            for _, status in sorted(self._pods[cluster].items())
            if status.phase == "Running" and selector.picks(status)
        ]

    def metrics(self, cluster: str) -> K8sMetricsSampled | None:
        return self._metrics.get(cluster)

    async def check(
        self, cluster: str, namespace: str | None = None, pod: str | None = None
    ) -> None:
        """Raise `ChannelRefused` (NOT_FOUND) unless a collector announced them."""
        await self._latest.caught_up()
        if cluster not in self._metrics and cluster not in self._pods:
            raise ChannelRefused(ErrorCode.NOT_FOUND, f"no cluster {cluster!r}")
        pods = self._pods.get(cluster, {})
        if namespace is not None and not any(ns == namespace for ns, _ in pods):
            raise ChannelRefused(
                ErrorCode.NOT_FOUND, f"no namespace {namespace!r} in cluster {cluster!r}"
            )
        if namespace is not None and pod is not None and (namespace, pod) not in pods:
            raise ChannelRefused(
                ErrorCode.NOT_FOUND, f"no pod {namespace}/{pod} in cluster {cluster!r}"
            )

    # -- the hub's watcher of k8s.metrics and k8s.status ----------------------------------

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        params = dict(channel.params)
        await self.check(params["cluster"], params.get("namespace"), params.get("pod"))
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Nothing to hold while a cluster is watched."""

    def stopped(self, channel: ChannelRef) -> None:
        """Nothing to release."""

    def polled(self, channel: ChannelRef) -> None:
        """Nothing to ask for: metrics and status flow without demand."""

    # -- the flow ------------------------------------------------------------------------

    def _on_metrics(self, batch: K8sMetricsSampled) -> None:
        self._metrics[batch.cluster] = batch

    def _on_status(self, status: PodStatusChanged) -> None:
        pods = self._pods.setdefault(status.cluster, {})
        key = (status.namespace, status.pod)
        if status.event == "deleted":
            pods.pop(key, None)
        else:
            pods[key] = status
        self._changed()
