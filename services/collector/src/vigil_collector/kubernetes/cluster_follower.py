"""One Kubernetes cluster, followed while this collector holds its lease.

Three flows run: the pod status flow (a `ResourceWatch` thread on pods; each change
published as `PodStatusChanged` on `status.k8s.{cluster}.{namespace}.{pod}`, a relist
publishing every pod and `deleted` for those gone), the events worth an alert (a
second watch, on events; `pod_alerts` raises and resolves them on `alerts.k8s`) and
the metrics cycle (one `K8sMetricsSampled`
on `metrics.k8s.{cluster}` every interval). Pod log followers (`PodLogFollowers`),
the retained pods' (`KeptPodLogs`, always) and scroll-back pages (`PodLogPages`) belong
to it too, so that only the lease holder reads a cluster's logs. Status and alert
messages wait in order until NATS acks them: an outage delays, never loses.
"""

import asyncio
import logging

from kubernetes import client

from vigil import ctl
from vigil.beat import Beat
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.lifecycle import run_together
from vigil.messages import K8sMetricsSampled, ReadPodLogs, utc_now
from vigil.model import Message
from vigil.publishing import InOrder
from vigil_collector.errors import KubernetesUnavailable
from vigil_collector.handoff import Handoff
from vigil_collector.kubernetes import pod_alerts
from vigil_collector.kubernetes.kept_pod_logs import KeptPodLogs
from vigil_collector.kubernetes.kube import ClusterConfig
from vigil_collector.kubernetes.pod_alerts import PodAlerts
from vigil_collector.kubernetes.pod_log_pages import PodLogPages
from vigil_collector.kubernetes.pod_logs import PodLogFollowers
from vigil_collector.kubernetes.pod_metrics import MetricsSampler
from vigil_collector.kubernetes.pod_status import PodStates
from vigil_collector.kubernetes.resource_watch import ResourceWatch, WatchEvent
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)


class ClusterFollower:
    def __init__(self, settings: CollectorSettings, bus: Bus, cluster: ClusterConfig) -> None:
        self._settings = settings
        self._bus = bus
        self.cluster = cluster
        self.states = PodStates(cluster.name)
        self.alerts = PodAlerts(cluster.name)
        self.watch: ResourceWatch | None = None
        self.events: ResourceWatch | None = None
        self.logs: PodLogFollowers | None = None
        self.kept: KeptPodLogs | None = None
        self.pages: PodLogPages | None = None
        self._out = InOrder(bus, f"pod status and alerts of {cluster.name}")

    async def run(self) -> None:
        """Until cancelled."""
        settings = self._settings
        api_client = await asyncio.to_thread(self.cluster.api_client)
        loop = asyncio.get_running_loop()
        core = client.CoreV1Api(api_client)
        limits = {"timeout_s": settings.k8s_timeout_s, "retry_max_s": settings.k8s_retry_max_s}
        pods: Handoff[WatchEvent] = Handoff(loop, 10_000)
        events: Handoff[WatchEvent] = Handoff(loop, 10_000)
        self.watch = ResourceWatch(core.list_pod_for_all_namespaces, pods, **limits)
        self.events = ResourceWatch(core.list_event_for_all_namespaces, events, **limits)
        self.logs = PodLogFollowers(settings, self._bus, self.cluster.name, api_client)
        self.kept = KeptPodLogs(settings, self._bus, self.cluster.name, api_client)
        self.logs.kept = self.kept.keeps
        self.pages = PodLogPages(settings, self.cluster.name, api_client)
        sampler = MetricsSampler(
            api_client, self.cluster.name, settings.k8s_interval_s, settings.k8s_timeout_s
        )
        self.watch.start()
        self.events.start()
        tasks = [
            asyncio.create_task(self._statuses(pods), name=f"k8s-status-{self.cluster.name}"),
            asyncio.create_task(self._events(events), name=f"k8s-events-{self.cluster.name}"),
            asyncio.create_task(self._sample(sampler), name=f"k8s-metrics-{self.cluster.name}"),
            asyncio.create_task(self.logs.watch_leases(), name=f"k8s-logs-{self.cluster.name}"),
            asyncio.create_task(self.kept.watch_leases(), name=f"k8s-kept-{self.cluster.name}"),
        ]
        try:
            await run_together(tasks)
        finally:
            await self.logs.stop_all(flush=False)
            await self.kept.stop_all(flush=False)
            await asyncio.to_thread(self.watch.stop)
            await asyncio.to_thread(self.events.stop)
            await asyncio.to_thread(api_client.close)
            await self._out.close()

    async def _statuses(self, handoff: Handoff[WatchEvent]) -> None:
        while True:
            kind, payload = await handoff.get()
            if kind == "UNAVAILABLE":
                continue  # the metrics batch says so; the watch retries
            if kind == "LIST":
                messages = self.states.relist(payload)
            else:
                message = self.states.apply(kind, payload)
                messages = [] if message is None else [message]
            subjects = self._bus.subjects
            for message in messages:
                subject = subjects.k8s_status(message.cluster, message.namespace, message.pod)
                await self._publish(subject, message)
                for resolved in self.alerts.pod_changed(message):
                    await self._publish(subjects.alerts(pod_alerts.SOURCE), resolved)
                if self.logs is not None:
                    await self.logs.pod_changed(message)
                if self.kept is not None:
                    await self.kept.pod_changed(message)

    async def _events(self, handoff: Handoff[WatchEvent]) -> None:
        """Kubernetes events worth an alert (`pod_alerts`)."""
        subject = self._bus.subjects.alerts(pod_alerts.SOURCE)
        while True:
            kind, payload = await handoff.get()
            if kind in ("UNAVAILABLE", "DELETED"):
                continue
            for event in payload if kind == "LIST" else [payload]:
                alert = self.alerts.event(event)
                if alert is not None:
                    lines = await self._last_log_lines(*pod_alerts.pod_of(event))
                    await self._publish(subject, alert.model_copy(update={"log_lines": lines}))

    async def _last_log_lines(self, namespace: str, pod: str) -> list[str] | None:
        """The pod's last lines, for its alert (none if it has no log, or it is gone)."""
        count = self._settings.k8s_alert_log_lines
        if not count or self.pages is None:
            return None
        request = ReadPodLogs(cluster=self.cluster.name, namespace=namespace, pod=pod, limit=count)
        try:
            page = await asyncio.wait_for(self.pages.read(request), self._settings.k8s_timeout_s)
        except (ctl.Refused, TimeoutError) as exc:
            log.info("no log lines for the alert of %s/%s: %s", namespace, pod, exc)
            return None
        return [f"{line.time.isoformat()} {line.text}" for line in page.lines] or None

    async def _publish(self, subject: str, message: Message) -> None:
        """In order, after whatever NATS has not acked yet."""
        await self._out.send(subject, message)

    async def _sample(self, sampler: MetricsSampler) -> None:
        interval = self._settings.k8s_interval_s
        subject = self._bus.subjects.k8s_metrics(self.cluster.name)
        beat = Beat(interval)
        while True:
            await beat.wait()
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
