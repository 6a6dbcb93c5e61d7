"""The Docker seed endpoints (seed 000): `/ws/docker/stats`, `/ws/docker/{id}/logs`,
and `GET /api/docker/containers`.

The sockets are the `docker_stats` and `docker.logs` channels served alone; a logs
socket names its container by id or unique name prefix, and an unknown one gets an
`error` with NOT_FOUND and close 1008 rather than a stream that never speaks.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket

from vigil.access import Principal
from vigil.errors import InvalidName
from vigil.messages import ErrorCode
from vigil.names import NameKind, validate_name
from vigil_gateway.gateway import Gateway
from vigil_gateway.http_auth import authenticated, refusal

Anyone = Annotated[Principal, Depends(authenticated)]


def docker_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/docker/containers")
    async def containers(
        request: Request, principal: Anyone, host: Annotated[str | None, Query()] = None
    ) -> dict[str, Any]:
        """The latest stats batch of every Docker host (or of `host`): its containers."""
        gateway: Gateway = request.app.state.gateway
        if host is not None:
            try:
                validate_name(NameKind.HOST, host)
            except InvalidName as exc:
                raise refusal(ErrorCode.INVALID_MESSAGE, str(exc)) from None
        if not gateway.bus.is_connected:
            raise refusal(ErrorCode.UNAVAILABLE, "the bus is unavailable")
        batches = gateway.containers.snapshots(host)
        return {"hosts": [batch.model_dump(mode="json") for batch in batches]}

    @router.websocket("/ws/docker/stats")
    async def stats(websocket: WebSocket, host: str | None = None) -> None:
        gateway: Gateway = websocket.app.state.gateway
        params = {"host": host} if host is not None else {}
        await gateway.serve(websocket, channel=("docker_stats", params))

    @router.websocket("/ws/docker/{container_id}/logs")
    async def logs(websocket: WebSocket, container_id: str, host: str | None = None) -> None:
        gateway: Gateway = websocket.app.state.gateway
        params = {"container": container_id} | ({"host": host} if host is not None else {})
        await gateway.serve(websocket, channel=("docker.logs", params))

    return router
