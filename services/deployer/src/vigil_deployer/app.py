"""The deployer service: answers `ctl.deploy.*`, runs the deploys of its Docker host
(or, with `target=kubernetes`, of its cluster's Deployments), and carries out the
actions on its host's containers (or its cluster's workloads) and the rollbacks of its
host's last deploys, `ctl.deploy.*.{host}`, and the shells in its host's containers
(`vigil_deployer.shells`) or its cluster's pods (`vigil_deployer.pod_shells`).

Every replica answers requests (one queue group: FastStream subscribers on the
service's bus, `vigil_deployer.handlers.serve`) and announces the host it serves in
the `DEPLOYERS` bucket, renewed while it runs (so `host` can default to the only one).
The replicas of a host share its work queue: each deploy is run by one of them, and
one of them finishes any deploy whose replica died (see `worker`).
"""

import asyncio
import contextlib
import logging
from typing import Any

import nats.errors

from vigil.audit_trail import AuditTrail
from vigil.authority import bus_verifier
from vigil.broker import ServiceBroker
from vigil.bus import Bus
from vigil.bus_doc import DESCRIPTIONS
from vigil.busauth.permissions import ServiceRole
from vigil.errors import BusUnavailable
from vigil.messages import DeployerAnnounced, DeployRecord, utc_now
from vigil.records import Records
from vigil.streams import AUDIT, DEPLOY_EVENTS, DEPLOY_LOCKS, DEPLOY_QUEUE, DEPLOYERS, DEPLOYS
from vigil_deployer.actions import ContainerActions, WorkloadActions
from vigil_deployer.docker_target import DockerTarget
from vigil_deployer.handlers import Handlers, serve
from vigil_deployer.locks import ServiceLock, ServiceLocks
from vigil_deployer.pod_shells import PodShells
from vigil_deployer.rollbacks import Rollbacks
from vigil_deployer.settings import DeployerSettings
from vigil_deployer.shell_sessions import ShellSessions
from vigil_deployer.shells import ContainerShells
from vigil_deployer.target import Target
from vigil_deployer.worker import Worker

log = logging.getLogger(__name__)

_ANNOUNCE_EVERY_S = 5.0  # the DEPLOYERS bucket forgets a replica after 15 s


class DeployerService:
    def __init__(self, settings: DeployerSettings, target: Target | None = None) -> None:
        self.settings = settings
        self.bus = Bus(
            settings,
            name="vigil-deployer",
            role=ServiceRole.DEPLOYER,
            streams=[DEPLOY_EVENTS, DEPLOY_QUEUE, AUDIT],
            buckets=[DEPLOYS, DEPLOY_LOCKS, DEPLOYERS],
        )
        self.trail = AuditTrail(self.bus, "deployer")
        self.ready = asyncio.Event()  # set once requests are answered and deploys taken
        self._stopping = asyncio.Event()
        self._target = target
        self.worker: Worker | None = None
        self.shells: ShellSessions[Any] | None = None

    @property
    def healthy(self) -> bool:
        """What its probe's `/healthz` says: on a bus that answers."""
        return self.bus.is_connected

    async def run(self) -> None:
        """Serve until `stop()` (roll back what runs, within the grace, then close) or
        until cancelled (the same, with a short grace)."""
        target = self._target or _target_of(self.settings)
        await self.bus.connect()
        broker = ServiceBroker(self.bus, self.settings, description=DESCRIPTIONS["deploy"])
        try:
            deploys = await Records.open(self.bus, DEPLOYS, DeployRecord)
            locks = ServiceLocks(await Records.open(self.bus, DEPLOY_LOCKS, ServiceLock), deploys)
            deployers = await Records.open(self.bus, DEPLOYERS, DeployerAnnounced)
            self.worker = Worker(self.bus, self.settings, target, deploys, locks, self.trail)
            announcement = DeployerAnnounced(
                host=self.settings.host,
                replica=self.worker.id,
                target=self.settings.target,
                time=utc_now(),
            )
            await deployers.put(f"{self.settings.host}.{self.worker.id}", announcement)
            handlers = Handlers(self.bus, deploys, locks, deployers, self.trail)
            containers, workloads = self._actions(target)
            rollbacks = None
            if containers is not None:  # Docker deploys only (see `rollbacks`)
                rollbacks = Rollbacks(
                    self.bus, self.settings, deploys, handlers, containers, self.trail
                )
            in_containers, in_pods = self._shells(target)
            self.shells = in_containers or in_pods
            serve(
                broker,
                handlers,
                bus_verifier(self.bus),
                containers=containers,
                workloads=workloads,
                rollbacks=rollbacks,
                shells=in_containers,
                pod_shells=in_pods,
                host=self.settings.host,
            )
            await broker.start()
            await self.worker.start()
            self.ready.set()
            log.info(
                "deploying to %s %s as %s", self.settings.target, self.settings.host, self.worker.id
            )
            while not await self._stopped_within(_ANNOUNCE_EVERY_S):
                try:
                    announcement = announcement.model_copy(update={"time": utc_now()})
                    await deployers.put(f"{self.settings.host}.{self.worker.id}", announcement)
                except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
                    log.warning("could not announce this replica (next time): %s", exc)
            # Stopping: the running deploys roll back, journaled while the bus is up.
            self.ready.clear()
            await self.worker.stop(self.settings.shutdown_grace_s)
        finally:
            self.ready.clear()
            try:
                if self.worker is not None:  # after a `stop()` there is nothing left to stop
                    with contextlib.suppress(Exception):
                        await self.worker.stop(grace_s=1.0)
            finally:  # a cancel repeated while the worker stops must not skip these
                try:
                    if self.shells is not None:  # each told, and its end recorded
                        await self.shells.close()
                    await broker.stop()
                    await self.trail.close()  # the rollbacks' confirmations and cancels
                finally:
                    try:
                        await self.bus.close()
                    finally:
                        await target.close()

    def _actions(self, target: Target) -> tuple[ContainerActions | None, WorkloadActions | None]:
        """What acts on this replica's host: its containers, or its cluster's workloads."""
        if isinstance(target, DockerTarget):
            return ContainerActions(self.bus, self.settings, target.connect, self.trail), None
        if target.kind == "kubernetes":
            return None, WorkloadActions(self.bus, self.settings, target, self.trail)
        return None, None

    def _shells(self, target: Target) -> tuple[ContainerShells | None, PodShells | None]:
        """Where this replica opens shells: its host's containers, or its cluster's pods."""
        if isinstance(target, DockerTarget):
            return ContainerShells(self.bus, self.settings, target.connect, self.trail), None
        if target.kind == "kubernetes":
            return None, PodShells(self.bus, self.settings, target, self.trail)
        return None, None

    def stop(self) -> None:
        """Stop taking deploys, roll back the running ones (within `shutdown_grace_s`)
        and close: `run` then returns, nothing cancelled on the way."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()


def _target_of(settings: DeployerSettings) -> Target:
    if settings.target == "kubernetes":
        # Imported only when asked for: the kubernetes client is slow to import.
        from vigil_deployer.k8s_target import KubernetesTarget

        return KubernetesTarget(settings)
    return DockerTarget(settings)


def build_app(settings: DeployerSettings, target: Target | None = None) -> DeployerService:
    return DeployerService(settings, target)
