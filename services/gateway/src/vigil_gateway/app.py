"""The gateway application: routes and their lifespan."""

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST

from vigil.access import Principal, Role
from vigil.messages import ErrorCode
from vigil_gateway.access import redaction
from vigil_gateway.directory import roster
from vigil_gateway.http import endpoints, shell_routes
from vigil_gateway.http.action_routes import action_router
from vigil_gateway.http.alert_routes import alert_router
from vigil_gateway.http.audit_routes import audit_router
from vigil_gateway.http.auth_routes import auth_router
from vigil_gateway.http.body_limit import BodyLimit
from vigil_gateway.http.dashboard import serve_dashboard
from vigil_gateway.http.deploy_routes import deploy_router
from vigil_gateway.http.docker_routes import docker_router
from vigil_gateway.http.history_routes import history_router
from vigil_gateway.http.http_auth import RoleRequired, refusal
from vigil_gateway.http.invalid_input import invalid_input
from vigil_gateway.http.k8s_routes import k8s_router
from vigil_gateway.http.log_search_routes import log_search_router
from vigil_gateway.http.notify_routes import notify_router
from vigil_gateway.http.rule_routes import rule_router
from vigil_gateway.http.scrape import scrape_router
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.metrics import Exposition
from vigil_gateway.replica.gateway import Gateway
from vigil_gateway.settings import GatewaySettings


def build_app(settings: GatewaySettings) -> FastAPI:
    redaction.install()
    gateway = Gateway(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    # `/docs` and `/redoc` with their scripts and styles served here: no CDN, so they
    # work on a machine with no way out (fastapi-offline).
    app = FastAPIOffline(
        title="Vigil gateway",
        lifespan=lifespan,
        exception_handlers={RequestValidationError: invalid_input},
    )
    app.router.route_class = StrictJsonRoute  # and every router's: bodies are strict JSON
    # First in the stack: no route, dependency or credential check reads a body first.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.state.gateway = gateway
    app.include_router(auth_router())
    app.include_router(audit_router())
    app.include_router(deploy_router())
    app.include_router(action_router())
    app.include_router(docker_router())
    app.include_router(history_router())
    app.include_router(log_search_router())
    app.include_router(k8s_router())
    app.include_router(notify_router())
    app.include_router(rule_router())
    app.include_router(alert_router())
    app.include_router(scrape_router())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready: connected to NATS and caught up with revocations (503 otherwise)."""
        if gateway.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": "not connected to NATS"}, 503)

    exposition = Exposition(gateway.metrics, gateway.sessions.socket_figures, lambda: gateway.ready)

    @app.get("/api/connections")
    async def connections(
        admin: Annotated[Principal, Depends(RoleRequired(Role.ADMIN))],
    ) -> dict[str, Any]:
        """Every socket on every gateway replica: who, from where, since when, what it
        watches, frames sent and dropped."""
        if not gateway.bus.is_connected:
            raise refusal(
                ErrorCode.UNAVAILABLE, "the bus is unavailable; only this replica is known"
            )
        replicas = await roster.gather(gateway.bus)
        return {
            "gateways": len(replicas),
            "connections": [c.model_dump(mode="json") for r in replicas for c in r.connections],
        }

    # Kept beside `vigil.bus_doc`, which makes it (and imports FastStream, which the
    # gateway, whose feeds are on nats-py, does not need).
    asyncapi_document = (resources.files("vigil") / "asyncapi.json").read_bytes()

    @app.get("/docs/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> Response:
        """The AsyncAPI document of the services' bus operations (`vigil.bus_doc`), next
        to `/docs`, the OpenAPI one of these routes."""
        return Response(asyncapi_document, media_type="application/json")

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus figures of this replica: sockets, closes by code, frames and bytes
        by channel kind, drops, queue depth, delivery latency, resumes, rate limits."""
        return Response(exposition.render(), media_type=CONTENT_TYPE_LATEST)

    endpoints.register(app, gateway)
    shell_routes.register(app, gateway)

    @app.websocket("/{path:path}")
    async def no_such_socket(websocket: WebSocket, path: str) -> None:
        """A handshake to a path no socket route serves: 404 (Starlette would say 403)."""
        detail = {"code": ErrorCode.NOT_FOUND, "message": f"no WebSocket at /{path[:200]}"}
        await websocket.send_denial_response(JSONResponse({"detail": detail}, 404))

    if settings.web_dir is not None:
        serve_dashboard(app, settings.web_dir)  # last: every API and socket route wins
    return app
