"""The Kubernetes source: every configured cluster, followed by one collector replica.

For each cluster a loop takes or renews the cluster's lease (`vigil.leases.Leases`) every
third of the lease; while it holds it, a `ClusterFollower` publishes the cluster's
pod status, metrics and (on lease) logs. A replica that cannot renew in time stops
following at once, before another can take over, so two never publish the same
cluster; on shutdown it gives its leases up so a standby takes over without waiting.
Log lease and scroll-back requests (`ctl.logs.k8s_follow`, `ctl.logs.k8s_page`) reach
every replica; the one following the cluster answers.
"""

import asyncio
import contextlib
import logging
import time
import uuid

import nats.errors
from nats.aio.subscription import Subscription

from vigil import ctl
from vigil.access import Principal
from vigil.authority import bus_verifier
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.leases import Leases
from vigil.lifecycle import run_together, stop_task
from vigil.messages import ErrorCode, FollowPodLogs, LogPage, PodLogsFollowed, ReadPodLogs
from vigil.operations import Logs
from vigil.streams import K8S_CLUSTERS
from vigil_collector.kubernetes.cluster_follower import ClusterFollower
from vigil_collector.kubernetes.kube import ClusterConfig
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)


class KubernetesSource:
    def __init__(
        self, settings: CollectorSettings, bus: Bus, clusters: list[ClusterConfig]
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._clusters = clusters
        self.holder = f"{settings.host}-{uuid.uuid4().hex[:8]}"
        self.following: dict[str, ClusterFollower] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        lease_s = self._settings.k8s_lease_s
        leases = await Leases.open(self._bus, K8S_CLUSTERS, self.holder, lease_s)
        queue = f"vigil-collector-{self.holder}"  # every replica hears; the follower answers
        services: list[Subscription] = [
            await ctl.serve(self._bus, Logs.K8S_FOLLOW, self._follow_logs, queue=queue),
            await ctl.serve_for_users(
                self._bus,
                Logs.K8S_PAGE,
                self._page_logs,
                bus_verifier(self._bus),
                mine=lambda request: request.cluster in self.following,
                queue=queue,
            ),
        ]
        loops = [
            asyncio.create_task(self._hold(leases, cluster), name=f"k8s-lease-{cluster.name}")
            for cluster in self._clusters
        ]
        try:
            await run_together(loops)
        finally:
            for service in services:
                with contextlib.suppress(nats.errors.Error):
                    await service.unsubscribe()

    async def _hold(self, leases: Leases, cluster: ClusterConfig) -> None:
        lease_s = self._settings.k8s_lease_s
        renewed = 0.0
        try:
            while True:
                try:
                    held = await leases.hold(cluster.name)
                except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
                    log.warning("could not renew the lease of %s: %s", cluster.name, exc)
                    # still ours until it runs out; stop well before another may take it
                    held = time.monotonic() - renewed < lease_s / 2
                    if not held:
                        leases.forget(cluster.name)
                else:
                    if held:
                        renewed = time.monotonic()
                if held:
                    self._ensure_following(cluster)
                else:
                    await self._stop_following(cluster.name)
                await asyncio.sleep(lease_s / 3)
        finally:
            await self._stop_following(cluster.name)
            with contextlib.suppress(BusUnavailable, nats.errors.Error, TimeoutError):
                await leases.release(cluster.name)

    def _ensure_following(self, cluster: ClusterConfig) -> None:
        task = self._tasks.get(cluster.name)
        if task is not None and not task.done():
            return
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("following %s failed: %r; again", cluster.name, task.exception())
        follower = ClusterFollower(self._settings, self._bus, cluster)
        self.following[cluster.name] = follower
        self._tasks[cluster.name] = asyncio.create_task(follower.run(), name=f"k8s-{cluster.name}")
        log.info("following Kubernetes cluster %s", cluster.name)

    async def _stop_following(self, name: str) -> None:
        self.following.pop(name, None)
        task = self._tasks.pop(name, None)
        if task is not None:
            log.info("no longer following Kubernetes cluster %s", name)
            await stop_task(task)

    async def _follow_logs(self, request: FollowPodLogs) -> PodLogsFollowed:
        follower = self.following.get(request.cluster)
        if follower is None:
            raise ctl.NotMine()  # another replica follows it, or nobody does
        if follower.logs is None:
            raise ctl.Refused(ErrorCode.UNAVAILABLE, f"cluster {request.cluster} is starting")
        return await follower.logs.follow(request)

    async def _page_logs(self, request: ReadPodLogs, caller: Principal) -> LogPage:
        if not caller.may_see_cluster(request.cluster):
            raise ctl.Refused(
                ErrorCode.FORBIDDEN, f"{caller.name} has no grant for cluster {request.cluster!r}"
            )
        follower = self.following.get(request.cluster)
        if follower is None:
            raise ctl.NotMine()
        if follower.pages is None:
            raise ctl.Refused(ErrorCode.UNAVAILABLE, f"cluster {request.cluster} is starting")
        return await follower.pages.read(request)
