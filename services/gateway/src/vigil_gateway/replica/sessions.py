"""The sockets of one replica: admitted, given their connection, listed, replaced and
drained.

A WebSocket is admitted at its handshake (`session.admission`), then accepted and
given its `Connection` (an SSE stream is given one the same way); the replicas' roster
hears of every socket opened and closed (`directory.roster`). With single sessions on,
a new socket of a user closes the older ones on every replica with 4004. A drain turns
away new sockets and closes the open ones in batches with 1012.
"""

import asyncio
import contextlib
import logging

import nats.errors
from fastapi import WebSocket
from nats.aio.msg import Msg
from pydantic import ValidationError

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.messages import CloseCode, GatewayConnections, SessionStarted
from vigil_gateway.access.credentials import read_credentials
from vigil_gateway.access.ratelimit import RateLimits
from vigil_gateway.delivery.hub import Hub
from vigil_gateway.delivery.options import NO_OPTIONS, Options
from vigil_gateway.directory import roster
from vigil_gateway.filters.quota import FilterQuota
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.replica.questions import Spawn
from vigil_gateway.session.admission import Admission, Refusal
from vigil_gateway.session.connection import Connection, Reauthenticate
from vigil_gateway.session.registry import Registry
from vigil_gateway.settings import GatewaySettings
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.wire import Wire, wire_of

log = logging.getLogger(__name__)


class Sessions:
    def __init__(
        self,
        gateway_id: str,
        settings: GatewaySettings,
        bus: Bus,
        *,
        metrics: GatewayMetrics,
        audit: AuditTrail,
        hub: Hub,
        flusher: Flusher,
        limits: RateLimits,
        quota: FilterQuota,
        admission: Admission,
        connections: Registry,
        reauthenticate: Reauthenticate,
        spawn: Spawn,
    ) -> None:
        self._id = gateway_id
        self._settings = settings
        self._bus = bus
        self._metrics = metrics
        self._audit = audit
        self._hub = hub
        self._flusher = flusher
        self._limits = limits
        self._quota = quota
        self._admission = admission
        self._connections = connections
        self._reauthenticate = reauthenticate
        self._spawn = spawn

    async def serve(
        self,
        websocket: WebSocket,
        channel: ChannelRef | None = None,
        options: Options = NO_OPTIONS,
    ) -> None:
        """A WebSocket: `/ws` (the client chooses channels), or an endpoint that streams
        one `channel` as the `options` say."""
        wire = wire_of(websocket.scope)
        if wire is None:  # another ASGI server or protocol: see transport.wire
            log.error("WebSocket without Vigil's wire: serve the gateway with WireProtocol")
            await websocket.close(CloseCode.INTERNAL_ERROR, "the gateway is misconfigured")
            return
        principal = await self.admit(websocket)
        if principal is None:
            return
        address = websocket.client.host if websocket.client else None
        await self.attach(wire, principal, address, channel=channel, options=options)

    async def admit(self, websocket: WebSocket) -> Principal | None:
        """Accept a handshake, and the principal of its credentials if `Admission` lets
        it in; else None, the socket closed with the refusal's code and reason (audited).
        Every socket route admits this way (`/ws` and its kin, a shell's)."""
        credentials = read_credentials(websocket)
        headers = websocket.headers
        decision = await self._admission.decide(
            credentials, headers.get("origin"), headers.get("host")
        )
        await websocket.accept(subprotocol=credentials.subprotocol)
        if isinstance(decision, Refusal):
            address = websocket.client.host if websocket.client else None
            path = f"connect {websocket.url.path}"
            self._audit.refused(path, None, decision.reason, address=address)
            self._metrics.closes[decision.code] += 1
            await websocket.close(decision.code, decision.reason)
            return None
        return decision

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
        self._metrics.opens += 1
        connection = Connection(
            wire,
            principal,
            address,
            settings=self._settings,
            hub=self._hub,
            flusher=self._flusher,
            limits=self._limits,
            quota=self._quota,
            metrics=self._metrics,
            audit=self._audit,
            reauthenticate=self._reauthenticate,
            bus_available=self._bus.is_connected,
            on_gone=self._on_gone,
            pings=pings,
        )
        self._connections.add(connection)
        await roster.announce(self._bus, "opened", connection.info(self._id))
        if self._settings.single_session_per_user:
            await self._start_single_session(connection)
        await connection.open(channel, options)  # it lives without a task now

    async def drain(self, window_s: float, batches: int = 20) -> None:
        """Refuse new sockets, close the open ones with 1012 in batches spread over
        `window_s`, and wait (bounded) for them to go."""
        self._admission.draining = True
        connections = list(self._connections)
        log.info("draining %d sockets over %.1f s", len(connections), window_s)
        size = max(1, -(-len(connections) // batches))
        for start in range(0, len(connections), size):
            for connection in connections[start : start + size]:
                connection.close(CloseCode.RESTARTING, "this gateway is restarting; reconnect")
            if start + size < len(connections):
                await asyncio.sleep(window_s / batches)
        await self._connections.wait_empty(timeout_s=5.0)

    def socket_figures(self) -> tuple[int, int, int]:
        """Open sockets, frames queued in all outboxes, the deepest outbox."""
        depths = [len(connection.outbox) for connection in self._connections]
        return len(depths), sum(depths), max(depths, default=0)

    async def on_list_connections(self, msg: Msg) -> None:
        own = [connection.info(self._id) for connection in self._connections]
        await roster.answer(msg, GatewayConnections(gateway_id=self._id, connections=own))

    async def on_session_started(self, msg: Msg) -> None:
        try:
            event = SessionStarted.model_validate_json(msg.data)
        except ValidationError:
            log.warning("ignored a malformed session event")
            return
        if event.gateway_id != self._id:
            self._replace_older(event)

    def _on_gone(self, connection: Connection) -> None:
        self._spawn(self._forget(connection))

    async def _forget(self, connection: Connection) -> None:
        self._connections.remove(connection)
        code = connection.close_code or CloseCode.GOING_AWAY
        self._metrics.closes[code] += 1
        await connection.leave()
        await roster.announce(self._bus, "closed", connection.info(self._id), code)

    async def _start_single_session(self, connection: Connection) -> None:
        event = SessionStarted(
            principal=connection.principal_token,
            connection_id=connection.id,
            gateway_id=self._id,
            started_at=connection.started_at,
        )
        self._replace_older(event)
        if self._bus.is_connected:
            subject = self._bus.subjects.gateway_sessions()
            with contextlib.suppress(nats.errors.Error):  # the other replicas learn later
                await self._bus.nc.publish(subject, event.model_dump_json().encode())

    def _replace_older(self, event: SessionStarted) -> None:
        for older in self._connections.of(event.principal):
            if older.id != event.connection_id and older.started_at <= event.started_at:
                older.close(CloseCode.REPLACED, "replaced by a newer session of the same user")
