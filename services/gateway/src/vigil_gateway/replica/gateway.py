"""What every connection of one gateway replica shares: the composition root.

The bus, the channel feeds, the directories and log leases, how credentials become a
principal, which credentials were revoked, the rate limiter, the audit trail of what
it refuses (`vigil.audit_trail`, on `audit.gateway`); the sockets themselves
(`sessions`), questions for clients (`questions`) and the replica's samples of itself
(`sampling`). It starts and stops them all, and tells them when the bus goes and
comes back.
"""

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import nats.errors
from nats.aio.subscription import Subscription

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.channels import ChannelRef
from vigil.lifecycle import stop_task
from vigil.messages import (
    CloseCode,
    CredentialsRevoked,
    RevocationKind,
)
from vigil.streams import ALERTS, AUDIT, CONNECTIONS, LATEST, LOGS, RATE_LIMITS, REVOKED
from vigil.subjects import ANY
from vigil_gateway.access.credentials import Credentials
from vigil_gateway.access.identity import Identity
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.access.ratelimit import RateLimits
from vigil_gateway.access.revocations import Revocations
from vigil_gateway.delivery.hub import Hub
from vigil_gateway.delivery.poll_slots import PollSlots
from vigil_gateway.delivery.staleness import StaleAfter
from vigil_gateway.directory import clusters, existence, hosts, roster
from vigil_gateway.directory.clusters import ClusterDirectory
from vigil_gateway.directory.containers import ContainerDirectory
from vigil_gateway.directory.leases import (
    ContainerLogs,
    FileLogs,
    JournalLogs,
    LogLeases,
    PodLogs,
)
from vigil_gateway.errors import InvalidCredentials
from vigil_gateway.filters.quota import FilterQuota
from vigil_gateway.merged import view as merged
from vigil_gateway.merged.sources import LogSource
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.replica.questions import Questions
from vigil_gateway.replica.sampling import Sampler, Sampling
from vigil_gateway.replica.sessions import Sessions
from vigil_gateway.session.admission import Admission
from vigil_gateway.session.registry import Registry
from vigil_gateway.settings import GatewaySettings
from vigil_gateway.transport.flusher import Flusher

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.id = uuid.uuid4().hex
        self.settings = settings
        self.bus = Bus(
            settings,
            name="vigil-gateway",
            role=ServiceRole.GATEWAY,
            streams=[LATEST, ALERTS, REVOKED, CONNECTIONS, LOGS, AUDIT],
            buckets=[RATE_LIMITS],
        )
        self.metrics = GatewayMetrics()
        self.audit = AuditTrail(self.bus, "gateway")
        self.flusher = Flusher(self.metrics)
        self.stale_after = StaleAfter(settings.stale_after_intervals, settings.stale_min_s)
        self.hub = Hub(
            self.bus,
            self.metrics,
            self.flusher,
            self.stale_after,
            max_replays=settings.max_replays,
        )
        self.containers = ContainerDirectory(self.bus)
        self.clusters = ClusterDirectory(self.bus)
        self.log_leases: list[LogLeases] = []
        journal = JournalLogs(hosts.HostExistence(self.bus))
        files = FileLogs(self.bus, hosts.HostExistence(self.bus))
        kinds = (ContainerLogs(self.containers), PodLogs(self.clusters), journal, files)
        for kind in kinds:
            held = LogLeases(
                self.bus, kind, holder=self.id, lease_s=settings.log_lease_s, tail=settings.log_tail
            )
            self.log_leases.append(held)
            self.hub.watch(kind.channel, held)
        for channel in clusters.CHANNELS:
            self.hub.watch(channel, self.clusters)
        self.hub.watch(existence.CHANNEL, existence.DeployExistence(self.bus))
        for channel in hosts.CHANNELS:
            self.hub.watch(channel, hosts.HostExistence(self.bus))
        self.hub.watch(merged.CHANNEL, merged.MergedViews(self.clusters, files))
        self.hub.make(merged.CHANNEL, self._merged_feed)
        self.http = httpx.AsyncClient()
        self.identity = Identity(settings, self.bus, self.http)
        self.revocations = Revocations(self.bus, self._close_revoked)
        self.connections = Registry()
        self.shells: set[Any] = set()  # the open shells (`http.shell_routes.Shell`)
        self.filter_quota = FilterQuota(settings.max_filtered_views)
        self.poll_slots = PollSlots(settings.max_polls_per_user)
        self.admission = Admission(settings, self.connections, self.authenticate)
        self.limits = RateLimits(settings, self.bus)
        self._subscriptions: list[Subscription] = []  # core: they survive reconnects
        self._tasks: set[asyncio.Task[None]] = set()  # questions relayed, sockets forgotten
        self.sessions = Sessions(
            self.id,
            settings,
            self.bus,
            metrics=self.metrics,
            audit=self.audit,
            hub=self.hub,
            flusher=self.flusher,
            limits=self.limits,
            quota=self.filter_quota,
            admission=self.admission,
            connections=self.connections,
            reauthenticate=self.reauthenticate,
            spawn=self._spawn,
        )
        self.questions = Questions(self.bus, self.connections, self._spawn)
        self.replica = settings.replica or f"gw-{self.id[:8]}"
        self._sampling = Sampling(
            self.bus,
            Sampler(self.replica, settings.max_connections),
            settings.sample_interval_s,
            lambda: (len(self.connections), self.metrics.send_failures),
        )
        self._connecting: asyncio.Task[None] | None = None
        self._following_containers: asyncio.Task[None] | None = None
        self.bus.on_disconnected(self._on_bus_lost)
        self.bus.on_reconnected(self._on_bus_back)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        # Connect in the background: the gateway serves /healthz (and says "not ready")
        # while NATS is still away.
        self._connecting = asyncio.create_task(self._connect(), name="gateway-connect")
        self._sampling.start()

    async def stop(self) -> None:
        for task in (self._connecting, self._following_containers, *self._tasks):
            await stop_task(task)
        await self._sampling.stop()
        await self.revocations.stop()
        await self.hub.close()
        for held in self.log_leases:
            await held.close()
        await self.containers.stop()
        await self.clusters.stop()
        await self.audit.close()
        await self.bus.close()
        await self.http.aclose()

    async def drain(self, window_s: float) -> None:
        """Turn not-ready, and drain the sockets (`Sessions.drain`)."""
        await self.sessions.drain(window_s)

    @property
    def ready(self) -> bool:
        connected = self._connecting is not None and self._connecting.done()
        return connected and self.bus.is_connected and not self.admission.draining

    # -- authentication -----------------------------------------------------------

    async def authenticate(self, credentials: Credentials) -> Principal:
        principal = await self.identity.principal(credentials)
        if self.revocations.covers(principal):
            raise InvalidCredentials("the credentials were revoked")
        return principal

    async def reauthenticate(self, token: str) -> Principal:
        return await self.authenticate(Credentials(token=token))

    def _merged_feed(self, channel: ChannelRef, since: int | None) -> merged.MergedFeed:
        return merged.MergedFeed(
            channel,
            self.bus,
            self.containers,
            self.clusters,
            self.hub.demand,
            self.flusher,
            window_s=self.settings.merge_window_s,
            since=since,
        )

    async def merged_sources(self, channel: ChannelRef, sees: SeesCluster) -> list[LogSource]:
        """What the merged view `channel` picks now, pods only on clusters `sees` admits."""
        picker = merged.SourcePicker(dict(channel.params), self.containers, self.clusters)
        return await picker.pick(self.bus.subjects, await picker.clusters(sees))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beside the sockets; `stop` cancels what is left."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- bus events ---------------------------------------------------------------

    async def _connect(self) -> None:
        await self.bus.connect()
        await self._on_bus_back()

    async def _on_bus_lost(self) -> None:
        for connection in self.connections:
            connection.bus_unavailable()
        self.hub.bus_lost("the message bus is unavailable")

    async def _on_bus_back(self) -> None:
        for connection in self.connections:
            connection.bus_available()
        try:
            if not self._subscriptions:
                subjects, nc = self.bus.subjects, self.bus.nc
                self._subscriptions = [
                    await nc.subscribe(
                        subjects.gateway_sessions(), cb=self.sessions.on_session_started
                    ),
                    await nc.subscribe(subjects.ask(ANY), cb=self.questions.on_ask),
                    await nc.subscribe(subjects.ask_user(ANY), cb=self.questions.on_ask),
                    await nc.subscribe(
                        roster.subject(self.bus), cb=self.sessions.on_list_connections
                    ),
                ]
            await self.revocations.follow()
        except (nats.errors.Error, TimeoutError) as exc:  # retried on the next reconnect
            log.warning("could not follow revocations and sessions: %s", exc)
        await self.hub.restart()
        # The container directory is not needed to be ready: it catches up on the side.
        await stop_task(self._following_containers)
        self._following_containers = asyncio.create_task(
            self._follow_containers(), name="gateway-containers"
        )

    async def _follow_containers(self) -> None:
        try:
            await self.containers.follow()
            await self.clusters.follow()
        except (nats.errors.Error, TimeoutError) as exc:  # retried on the next reconnect
            log.warning("could not follow the container directory: %s", exc)

    async def _close_revoked(self, event: CredentialsRevoked) -> None:
        if event.kind is RevocationKind.API_KEY:
            self.identity.forget_api_key(event.id)
        for connection in self.connections:
            if self.revocations.covers(connection.principal):
                log.info("closing connection %s: %s revoked", connection.id, event.kind)
                connection.close(CloseCode.INVALID_CREDENTIALS, f"{event.kind} revoked")
        for shell in list(self.shells):
            if self.revocations.covers(shell.principal):
                log.info("closing a shell of %s: %s revoked", shell.principal.key, event.kind)
                shell.close(CloseCode.INVALID_CREDENTIALS, f"{event.kind} revoked")
