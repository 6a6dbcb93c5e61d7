"""The collector service: sample the host on a fixed beat and publish what it sees,
and (on lease) its systemd journal and its allow-listed log files; with a Docker
engine, its containers' stats, status and (on lease) logs too; with Kubernetes
clusters, their pods' metrics, status and (on lease) logs."""

import asyncio
import logging
from typing import TYPE_CHECKING

from vigil.beat import Beat
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.streams import ALERTS, K8S_CLUSTERS, LATEST, LOGS, LOGS_KEPT
from vigil_collector.docker.source import DockerSource
from vigil_collector.files.followers import FileFollowers
from vigil_collector.host.sampler import HostSampler
from vigil_collector.journal.followers import JournalFollowers
from vigil_collector.settings import CollectorSettings

if TYPE_CHECKING:
    from vigil_collector.kubernetes.source import KubernetesSource

log = logging.getLogger(__name__)


class Collector:
    def __init__(self, settings: CollectorSettings) -> None:
        self.settings = settings
        self.bus = Bus(
            settings,
            name=f"vigil-collector-{settings.host}",
            role=ServiceRole.COLLECTOR,
            streams=[LATEST, ALERTS, LOGS, LOGS_KEPT],
            buckets=[K8S_CLUSTERS],
        )
        self.docker = DockerSource(settings, self.bus) if settings.docker != "off" else None
        self.kubernetes = _kubernetes_source(settings, self.bus)
        self.journal = JournalFollowers(settings, self.bus) if settings.journal else None
        self.files = FileFollowers(settings, self.bus)  # refuses every name if none allowed
        self.reported = asyncio.Event()  # its host's first metrics are in: the host is known

    @property
    def healthy(self) -> bool:
        """What its probe's `/healthz` says: on a bus that answers."""
        return self.bus.is_connected

    async def run(self) -> None:
        """Publish until cancelled; a NATS outage skips samples, never stops the loop."""
        await self.bus.connect()
        docker = None
        if self.docker is not None:
            docker = asyncio.create_task(self.docker.run(), name="docker-source")
        kubernetes = None
        if self.kubernetes is not None:
            kubernetes = asyncio.create_task(self.kubernetes.run(), name="kubernetes-source")
        journal = None
        if self.journal is not None:
            journal = asyncio.create_task(self.journal.run(), name="journal-source")
        files = asyncio.create_task(self.files.run(), name="log-files-source")
        sampler = await asyncio.to_thread(
            HostSampler, self.settings.host, self.settings.proc_root, self.settings.top_processes
        )
        subjects = self.bus.subjects
        beat = Beat(self.settings.interval_s, at_once=False)
        try:
            while True:
                await beat.wait()
                sample = await asyncio.to_thread(sampler.sample)
                try:
                    await self.bus.publish(subjects.host_metrics(sample.host), sample)
                    self.reported.set()
                except BusUnavailable as exc:  # the next beat samples again
                    log.warning("could not publish host metrics: %s", exc)
        finally:
            sampler.close()
            try:
                await stop_task(files)
                await stop_task(journal)
                await stop_task(kubernetes)
                await stop_task(docker)
            finally:
                await self.bus.close()


def _kubernetes_source(settings: CollectorSettings, bus: Bus) -> "KubernetesSource | None":
    if settings.kubeconfig is None and settings.k8s_in_cluster is None:
        return None
    # Imported only when asked for: the kubernetes client takes a second or more to
    # import, which every collector would otherwise pay at start.
    from vigil_collector.kubernetes.kube import clusters_of
    from vigil_collector.kubernetes.source import KubernetesSource

    return KubernetesSource(settings, bus, clusters_of(settings))


def build_app(settings: CollectorSettings) -> Collector:
    return Collector(settings)
