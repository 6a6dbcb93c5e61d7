"""`GET /api/docker/containers`: the latest stats batch of every Docker host.

(The Docker sockets, `/ws/docker/stats` and `/ws/docker/{container_id}/logs`, are seed
endpoints in `vigil_gateway.endpoints`, with their SSE and polling twins.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

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

    return router
