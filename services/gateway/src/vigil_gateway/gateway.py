"""What every connection of one gateway replica shares, and how a socket is admitted.

The bus, the channel feeds, the live connections, how credentials become a principal,
which credentials were revoked, the rate limiter, and the gateways' talk about
sessions (with single sessions on, a new socket of a user closes the older ones on
every replica with 4004).
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import nats.errors
from fastapi import WebSocket
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from vigil import ctl
from vigil.access import Principal
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.channels import ChannelRef
from vigil.lifecycle import stop_task
from vigil.messages import (
    AskClient,
    ClientAnswered,
    CloseCode,
    CredentialsRevoked,
    ErrorCode,
    GatewayConnections,
    RevocationKind,
    SessionStarted,
)
from vigil.publishing import InOrder
from vigil.streams import ALERTS, CONNECTIONS, LATEST, LOGS, RATE_LIMITS, REVOKED
from vigil.subjects import ANY
from vigil_gateway.access import audit
from vigil_gateway.access.credentials import Credentials, read_credentials
from vigil_gateway.access.identity import Identity
from vigil_gateway.access.permissions import SeesCluster
from vigil_gateway.access.ratelimit import RateLimits
from vigil_gateway.access.revocations import Revocations
from vigil_gateway.delivery.hub import Hub
from vigil_gateway.delivery.options import NO_OPTIONS, Options
from vigil_gateway.delivery.poll_slots import PollSlots
from vigil_gateway.delivery.staleness import StaleAfter
from vigil_gateway.directory import clusters, existence, hosts, roster
from vigil_gateway.directory.clusters import ClusterDirectory
from vigil_gateway.directory.containers import ContainerDirectory
from vigil_gateway.directory.leases import ContainerLogs, LogLeases, PodLogs
from vigil_gateway.errors import InvalidCredentials
from vigil_gateway.filters.quota import FilterQuota
from vigil_gateway.merged import view as merged
from vigil_gateway.merged.sources import LogSource
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.session.admission import Admission, Refusal
from vigil_gateway.session.connection import Connection
from vigil_gateway.session.registry import Registry
from vigil_gateway.settings import GatewaySettings
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.wire import Wire, wire_of
from vigil_gateway.watch import SelfWatch

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.id = uuid.uuid4().hex
        self.settings = settings
        self.bus = Bus(
            settings,
            name="vigil-gateway",
            role=ServiceRole.GATEWAY,
            streams=[LATEST, ALERTS, REVOKED, CONNECTIONS, LOGS],
            buckets=[RATE_LIMITS],
        )
        self.metrics = GatewayMetrics()
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
        for kind in (ContainerLogs(self.containers), PodLogs(self.clusters)):
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
        self.hub.watch(merged.CHANNEL, merged.MergedViews(self.clusters))
        self.hub.make(merged.CHANNEL, self._merged_feed)
        self.http = httpx.AsyncClient()
        self.identity = Identity(settings, self.bus, self.http)
        self.revocations = Revocations(self.bus, self._close_revoked)
        self.connections = Registry()
        self.filter_quota = FilterQuota(settings.max_filtered_views)
        self.poll_slots = PollSlots(settings.max_polls_per_user)
        self.admission = Admission(settings, self.connections, self.authenticate)
        self.limits = RateLimits(settings, self.bus)
        self._subscriptions: list[Subscription] = []  # core: they survive reconnects
        self._watch = SelfWatch(
            gateway=self.id,
            max_sockets=settings.max_connections,
            sockets_ratio=settings.alert_sockets_ratio,
            send_failures_per_check=settings.alert_send_failures,
        )
        self._watching: asyncio.Task[None] | None = None
        self._alerts_out = InOrder(self.bus, "the gateway's alerts", max_waiting=1000)
        self._tasks: set[asyncio.Task[None]] = set()  # questions relayed, sockets forgotten
        self._connecting: asyncio.Task[None] | None = None
        self._following_containers: asyncio.Task[None] | None = None
        self.bus.on_disconnected(self._on_bus_lost)
        self.bus.on_reconnected(self._on_bus_back)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        # Connect in the background: the gateway serves /healthz (and says "not ready")
        # while NATS is still away.
        self._connecting = asyncio.create_task(self._connect(), name="gateway-connect")
        self._watching = asyncio.create_task(self._watch_self(), name="gateway-watch")

    async def stop(self) -> None:
        for task in (self._connecting, self._watching, self._following_containers, *self._tasks):
            await stop_task(task)
        await self._alerts_out.close()
        await self.revocations.stop()
        await self.hub.close()
        for held in self.log_leases:
            await held.close()
        await self.containers.stop()
        await self.clusters.stop()
        await self.bus.close()
        await self.http.aclose()

    async def drain(self, window_s: float, batches: int = 20) -> None:
        """Turn not-ready, refuse new sockets, close the open ones with 1012 in batches
        spread over `window_s`, and wait (bounded) for them to go."""
        self.admission.draining = True
        connections = list(self.connections)
        log.info("draining %d sockets over %.1f s", len(connections), window_s)
        size = max(1, -(-len(connections) // batches))
        for start in range(0, len(connections), size):
            for connection in connections[start : start + size]:
                connection.close(CloseCode.RESTARTING, "this gateway is restarting; reconnect")
            if start + size < len(connections):
                await asyncio.sleep(window_s / batches)
        await self.connections.wait_empty(timeout_s=5.0)

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

    # -- sockets ------------------------------------------------------------------

    async def serve(
        self,
        websocket: WebSocket,
        channel: ChannelRef | None = None,
        options: Options = NO_OPTIONS,
    ) -> None:
        """A WebSocket: `/ws` (the client chooses channels), or an endpoint that streams
        one `channel` as the `options` say."""
        wire = wire_of(websocket.scope)
        if (
            wire is None
        ):  # served by another ASGI server or protocol: see vigil_gateway.transport.wire
            log.error("WebSocket without Vigil's wire: serve the gateway with WireProtocol")
            await websocket.close(CloseCode.INTERNAL_ERROR, "the gateway is misconfigured")
            return
        credentials = read_credentials(websocket)
        headers = websocket.headers
        decision = await self.admission.decide(
            credentials, headers.get("origin"), headers.get("host")
        )
        await websocket.accept(subprotocol=credentials.subprotocol)
        address = websocket.client.host if websocket.client else None
        if isinstance(decision, Refusal):
            audit.denied(None, f"connect {websocket.url.path}", decision.reason, address)
            self.metrics.closes[decision.code] += 1
            await websocket.close(decision.code, decision.reason)
            return
        await self.attach(wire, decision, address, channel=channel, options=options)

    async def attach(
        self,
        wire: Wire,
        principal: Principal,
        address: str | None,
        *,
        channel: ChannelRef | None = None,
        options: Options = NO_OPTIONS,
        pings: bool = True,
    ) -> None:
        """Give an admitted socket (WebSocket or SSE) its connection, and open it."""
        self.metrics.opens += 1
        connection = Connection(
            wire,
            principal,
            address,
            settings=self.settings,
            hub=self.hub,
            flusher=self.flusher,
            limits=self.limits,
            quota=self.filter_quota,
            metrics=self.metrics,
            reauthenticate=self.reauthenticate,
            bus_available=self.bus.is_connected,
            on_gone=self._on_gone,
            pings=pings,
        )
        self.connections.add(connection)
        await roster.announce(self.bus, "opened", connection.info(self.id))
        if self.settings.single_session_per_user:
            await self._start_single_session(connection)
        await connection.open(channel, options)  # it lives without a task now

    def _on_gone(self, connection: Connection) -> None:
        self._spawn(self._forget(connection))

    async def _forget(self, connection: Connection) -> None:
        self.connections.remove(connection)
        code = connection.close_code or CloseCode.GOING_AWAY
        self.metrics.closes[code] += 1
        await connection.leave()
        await roster.announce(self.bus, "closed", connection.info(self.id), code)

    async def _on_list_connections(self, msg: Msg) -> None:
        own = [connection.info(self.id) for connection in self.connections]
        await roster.answer(msg, GatewayConnections(gateway_id=self.id, connections=own))

    def socket_figures(self) -> tuple[int, int, int]:
        """Open sockets, frames queued in all outboxes, the deepest outbox."""
        depths = [len(connection.outbox) for connection in self.connections]
        return len(depths), sum(depths), max(depths, default=0)

    async def _start_single_session(self, connection: Connection) -> None:
        event = SessionStarted(
            principal=connection.principal_token,
            connection_id=connection.id,
            gateway_id=self.id,
            started_at=connection.started_at,
        )
        self._replace_older(event)
        if self.bus.is_connected:
            subject = self.bus.subjects.gateway_sessions()
            with contextlib.suppress(nats.errors.Error):  # the other replicas learn later
                await self.bus.nc.publish(subject, event.model_dump_json().encode())

    def _replace_older(self, event: SessionStarted) -> None:
        for older in self.connections.of(event.principal):
            if older.id != event.connection_id and older.started_at <= event.started_at:
                older.close(CloseCode.REPLACED, "replaced by a newer session of the same user")

    async def _on_session_started(self, msg: Msg) -> None:
        try:
            event = SessionStarted.model_validate_json(msg.data)
        except ValidationError:
            log.warning("ignored a malformed session event")
            return
        if event.gateway_id != self.id:
            self._replace_older(event)

    async def _watch_self(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watch_interval_s)
            for alert in self._watch.check(len(self.connections), self.metrics.send_failures):
                await self._alerts_out.send(self.bus.subjects.alerts(alert.source), alert)

    # -- questions for clients ----------------------------------------------------

    async def _on_ask(self, msg: Msg) -> None:
        """A question for one of our sockets (by connection) or users (their newest
        socket); other replicas stay silent, so the one that holds it answers."""
        target = msg.subject.rsplit(".", 1)[-1]
        if msg.subject == self.bus.subjects.ask(target):
            found = self.connections.get(target)
            candidates = [found] if found is not None else []
        else:
            candidates = self.connections.of(target)
        if not candidates or not msg.reply:
            return
        try:
            question = AskClient.model_validate_json(msg.data)
        except ValidationError as exc:
            await msg.respond(ctl.refused(ErrorCode.INVALID_MESSAGE, str(exc)[:200]))
            return
        newest = max(candidates, key=lambda c: c.started_at)
        self._spawn(self._relay(newest, question, msg))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beside the sockets; `stop` cancels what is left."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _relay(connection: Connection, question: AskClient, msg: Msg) -> None:
        try:
            data = await connection.ask(question)
            reply = ctl.answered(ClientAnswered(connection_id=connection.id, data=data))
        except TimeoutError:
            reply = ctl.refused(
                ErrorCode.TIMEOUT, f"the client did not answer within {question.timeout_s:g} s"
            )
        with contextlib.suppress(nats.errors.Error):  # the asker may be gone
            await msg.respond(reply)

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
                    await nc.subscribe(subjects.gateway_sessions(), cb=self._on_session_started),
                    await nc.subscribe(subjects.ask(ANY), cb=self._on_ask),
                    await nc.subscribe(subjects.ask_user(ANY), cb=self._on_ask),
                    await nc.subscribe(roster.subject(self.bus), cb=self._on_list_connections),
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
