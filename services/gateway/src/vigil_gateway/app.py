"""The gateway application: routes, the shared parts behind them, and their lifespan."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse

from vigil.bus import Bus
from vigil.streams import ALERTS, LATEST
from vigil_gateway.connection import Connection
from vigil_gateway.handshake import admit
from vigil_gateway.hub import Hub
from vigil_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


class Gateway:
    """What every connection of this replica shares: the bus, the feeds, the live sockets."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.bus = Bus(settings, name="vigil-gateway", streams=[LATEST, ALERTS])
        self.hub = Hub(self.bus)
        self.connections: set[Connection] = set()
        self._connecting: asyncio.Task[None] | None = None
        self.bus.on_disconnected(self._on_bus_lost)
        self.bus.on_reconnected(self._on_bus_back)

    async def start(self) -> None:
        # Connect in the background: the gateway serves /healthz (and says "not ready")
        # while NATS is still away.
        self._connecting = asyncio.create_task(self._connect(), name="gateway-connect")

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        await self.hub.close()
        await self.bus.close()

    async def serve(self, websocket: WebSocket, *, system: bool) -> None:
        principal = await admit(websocket)
        await websocket.accept()
        connection = Connection(
            websocket,
            principal,
            self.hub,
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

    async def _connect(self) -> None:
        await self.bus.connect()
        await self._on_bus_back()

    async def _on_bus_lost(self) -> None:
        for connection in self.connections:
            connection.bus_unavailable()

    async def _on_bus_back(self) -> None:
        for connection in self.connections:
            connection.bus_available()
        await self.hub.restart()


def build_app(settings: GatewaySettings) -> FastAPI:
    gateway = Gateway(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="Vigil gateway", lifespan=lifespan)
    app.state.gateway = gateway

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready: connected to NATS (503 otherwise)."""
        if gateway.bus.is_connected:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": "not connected to NATS"}, 503)

    @app.websocket("/ws")
    async def multiplexed(websocket: WebSocket) -> None:
        await gateway.serve(websocket, system=False)

    @app.websocket("/api/system/ws")
    async def system(websocket: WebSocket) -> None:
        await gateway.serve(websocket, system=True)

    return app
