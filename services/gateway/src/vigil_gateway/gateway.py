"""What every connection of one gateway replica shares, and how a socket is admitted.

The bus, the channel feeds, who is connected, how credentials become a principal, and
which credentials were revoked. A socket is accepted only to be told why it is closed
when its credentials are missing (1008), invalid or revoked (4001), or cannot be
checked now (1013).
"""

import asyncio
import contextlib
import logging

import httpx
from fastapi import WebSocket

from vigil.access import Principal
from vigil.bus import Bus
from vigil.messages import CloseCode, CredentialsRevoked, RevocationKind
from vigil.streams import ALERTS, LATEST, REVOKED
from vigil_gateway import audit
from vigil_gateway.connection import Connection
from vigil_gateway.credentials import Credentials, read_credentials
from vigil_gateway.errors import AuthUnavailable, InvalidCredentials, MissingCredentials
from vigil_gateway.hub import Hub
from vigil_gateway.identity import Identity
from vigil_gateway.revocations import Revocations
from vigil_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.bus = Bus(settings, name="vigil-gateway", streams=[LATEST, ALERTS, REVOKED])
        self.hub = Hub(self.bus)
        self.http = httpx.AsyncClient()
        self.identity = Identity(settings, self.bus, self.http)
        self.revocations = Revocations(self.bus, self._close_revoked)
        self.connections: set[Connection] = set()
        self._connecting: asyncio.Task[None] | None = None
        self.bus.on_disconnected(self._on_bus_lost)
        self.bus.on_reconnected(self._on_bus_back)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        # Connect in the background: the gateway serves /healthz (and says "not ready")
        # while NATS is still away.
        self._connecting = asyncio.create_task(self._connect(), name="gateway-connect")

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        await self.revocations.stop()
        await self.hub.close()
        await self.bus.close()
        await self.http.aclose()

    @property
    def ready(self) -> bool:
        return self.bus.is_connected and self._connecting is not None and self._connecting.done()

    # -- authentication -----------------------------------------------------------

    async def authenticate(self, credentials: Credentials) -> Principal:
        principal = await self.identity.principal(credentials)
        if self.revocations.covers(principal):
            raise InvalidCredentials("the credentials were revoked")
        return principal

    async def reauthenticate(self, token: str) -> Principal:
        return await self.authenticate(Credentials(token=token))

    # -- sockets ------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, *, system: bool) -> None:
        credentials = read_credentials(websocket)
        address = websocket.client.host if websocket.client else None
        try:
            principal = await self.authenticate(credentials)
        except (MissingCredentials, InvalidCredentials, AuthUnavailable) as exc:
            code, reason = _refusal(exc)
            audit.denied(None, f"connect {websocket.url.path}", reason, address)
            await websocket.accept(subprotocol=credentials.subprotocol)
            await websocket.close(code, reason)
            return
        await websocket.accept(subprotocol=credentials.subprotocol)
        connection = Connection(
            websocket,
            principal,
            self.hub,
            self.reauthenticate,
            outbox_limit=self.settings.outbox_limit,
            bus_available=self.bus.is_connected,
        )
        self.connections.add(connection)
        try:
            if system:
                await connection.serve_system()
            else:
                await connection.serve_multiplexed(self.settings.heartbeat_interval_s)
        finally:
            self.connections.discard(connection)

    # -- bus events ---------------------------------------------------------------

    async def _connect(self) -> None:
        await self.bus.connect()
        await self._on_bus_back()

    async def _on_bus_lost(self) -> None:
        for connection in self.connections:
            connection.bus_unavailable()

    async def _on_bus_back(self) -> None:
        for connection in self.connections:
            connection.bus_available()
        await self.revocations.follow()
        await self.hub.restart()

    async def _close_revoked(self, event: CredentialsRevoked) -> None:
        if event.kind is RevocationKind.API_KEY:
            self.identity.forget_api_key(event.id)
        for connection in list(self.connections):
            if self.revocations.covers(connection.principal):
                log.info("closing connection %s: %s revoked", connection.id, event.kind)
                connection.close(CloseCode.INVALID_CREDENTIALS, f"{event.kind} revoked")


def _refusal(exc: MissingCredentials | InvalidCredentials | AuthUnavailable) -> tuple[int, str]:
    if isinstance(exc, MissingCredentials):
        return CloseCode.NO_CREDENTIALS, str(exc)
    if isinstance(exc, InvalidCredentials):
        return CloseCode.INVALID_CREDENTIALS, exc.reason
    return CloseCode.TRY_LATER, f"credentials cannot be checked now: {exc.reason}"
