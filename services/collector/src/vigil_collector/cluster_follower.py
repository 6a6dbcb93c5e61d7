"""One Kubernetes cluster, followed while this collector holds its lease.

Two flows run: the pod status flow (a `PodWatch` thread; each change published as
`PodStatusChanged` on `status.k8s.{cluster}.{namespace}.{pod}`, a relist publishing
every pod and `deleted` for those gone) and the metrics cycle (one `K8sMetricsSampled`
on `metrics.k8s.{cluster}` every interval). Pod log followers (`PodLogFollowers`)
and scroll-back pages (`PodLogPages`) belong to it too, so that only the lease holder
reads a cluster's logs. Status messages wait in order until NATS acks them: an outage
delays, never loses.
"""

import asyncio
import logging
import time
from collections import deque

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.messages import K8sMetricsSampled, PodStatusChanged, utc_now
from vigil_collector.errors import KubernetesUnavailable
from vigil_collector.handoff import Handoff
from vigil_collector.kube import ClusterConfig
from vigil_collector.pod_log_pages import PodLogPages
from vigil_collector.pod_logs import PodLogFollowers
from vigil_collector.pod_metrics import MetricsSampler
from vigil_collector.pod_status import PodStates
from vigil_collector.pod_watch import PodEvent, PodWatch
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

_UNSENT_LIMIT = 10_000


class ClusterFollower:
    def __init__(self, settings: CollectorSettings, bus: Bus, cluster: ClusterConfig) -> None:
        self._settings = settings
        self._bus = bus
        self.cluster = cluster
        self.states = PodStates(cluster.name)
        self.watch: PodWatch | None = None
        self.logs: PodLogFollowers | None = None
        self.pages: PodLogPages | None = None
        self._unsent: deque[PodStatusChanged] = deque(maxlen=_UNSENT_LIMIT)
        self._publishing = asyncio.Lock()

    async def run(self) -> None:
        """Until cancelled."""
        settings = self._settings
        api_client = await asyncio.to_thread(self.cluster.api_client)
        handoff: Handoff[PodEvent] = Handoff(asyncio.get_running_loop(), 10_000)
        self.watch = PodWatch(
            api_client,
            handoff,
            timeout_s=settings.k8s_timeout_s,
            retry_max_s=settings.k8s_retry_max_s,
        )
        self.logs = PodLogFollowers(settings, self._bus, self.cluster.name, api_client)
        self.pages = PodLogPages(settings, self.cluster.name, api_client)
        sampler = MetricsSampler(
            api_client, self.cluster.name, settings.k8s_interval_s, settings.k8s_timeout_s
        )
        self.watch.start()
        tasks = [
            asyncio.create_task(self._statuses(handoff), name=f"k8s-status-{self.cluster.name}"),
            asyncio.create_task(self._sample(sampler), name=f"k8s-metrics-{self.cluster.name}"),
            asyncio.create_task(self.logs.watch_leases(), name=f"k8s-logs-{self.cluster.name}"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises why it ended
        finally:
            for task in tasks:
                await stop_task(task)
            await self.logs.stop_all()
            await asyncio.to_thread(self.watch.stop)
            await asyncio.to_thread(api_client.close)

    async def _statuses(self, handoff: Handoff[PodEvent]) -> None:
        while True:
            kind, payload = await handoff.get()
            if kind == "UNAVAILABLE":
                continue  # the metrics batch says so; the watch retries
            if kind == "LIST":
                messages = self.states.relist(payload)
            else:
                message = self.states.apply(kind, payload)
                messages = [] if message is None else [message]
            for message in messages:
                await self._publish(message)
                if message.event != "deleted" and self.logs is not None:
                    await self.logs.pod_changed(message)

    async def _publish(self, message: PodStatusChanged) -> None:
        self._unsent.append(message)
        async with self._publishing:  # one sender at a time keeps the order
            try:
                while self._unsent:
                    first = self._unsent[0]
                    subject = self._bus.subjects.k8s_status(
                        first.cluster, first.namespace, first.pod
                    )
                    await self._bus.publish(subject, first)
                    self._unsent.popleft()
            except BusUnavailable as exc:  # sent with the next status message
                log.warning("could not publish pod status: %s", exc)

    async def _sample(self, sampler: MetricsSampler) -> None:
        interval = self._settings.k8s_interval_s
        subject = self._bus.subjects.k8s_metrics(self.cluster.name)
        next_at = time.monotonic()
        while True:
            try:
                batch = await asyncio.to_thread(sampler.sample)
            except KubernetesUnavailable as exc:
                batch = K8sMetricsSampled(
                    cluster=self.cluster.name,
                    time=utc_now(),
                    interval_s=interval,
                    metrics_available=False,
                    reason=f"the API server does not answer: {exc.reason}",
                    pods=[],
                    nodes=[],
                )
            try:
                await self._bus.publish(subject, batch)
            except BusUnavailable as exc:  # the next cycle tries again
                log.warning("could not publish pod metrics: %s", exc)
            next_at += interval
            if next_at < time.monotonic():  # a slow cycle: don't burst to catch up
                next_at = time.monotonic()
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
