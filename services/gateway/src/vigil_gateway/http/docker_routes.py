"""`GET /api/docker/containers`: the latest stats batch of every Docker host;
`GET /api/docker/{container}/logs`: scroll-back pages of a container's older lines.

(The Docker sockets, `/ws/docker/stats` and `/ws/docker/{container_id}/logs`, are seed
endpoints in `vigil_gateway.http.endpoints`, with their SSE and polling twins.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from vigil import ctl
from vigil.access import Principal
from vigil.channels import ChannelRef
from vigil.errors import BusUnavailable, InvalidName
from vigil.messages import ErrorCode, LogPage, ReadLogs
from vigil.names import NameKind, validate_name
from vigil.operations import Logs, Operation, Req
from vigil_gateway.delivery import channel_admission
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.http.http_auth import BusToken, authenticated, refusal, refused
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.replica.gateway import Gateway

Anyone = Annotated[Principal, Depends(authenticated)]


def docker_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

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

    @router.get("/api/docker/{container}/logs")
    async def log_page(
        request: Request,
        principal: Anyone,
        token: BusToken,
        container: str,
        host: Annotated[str | None, Query()] = None,
        before: Annotated[datetime | None, Query(description="oldest line's time held")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Scroll-back, seed 002's `before`/`limit` pages: up to `limit` lines from before
        `before` (the newest without), read from the engine, oldest first, and the
        `next_before` of the page before them (null at the log's start)."""
        gateway: Gateway = request.app.state.gateway
        if before is not None and before.tzinfo is None:
            raise refusal(ErrorCode.INVALID_MESSAGE, "before needs a time zone, e.g. ...Z")
        channel = await _logs_channel(gateway, principal, container, host)
        params = dict(channel.params)
        read = ReadLogs(
            host=params["host"], container=params["container"], before=before, limit=limit
        )
        return await log_page_of(gateway, Logs.PAGE, read, channel, token)

    return router


async def log_page_of(
    gateway: Gateway,
    operation: Operation[Req, LogPage],
    read: Req,
    channel: ChannelRef,
    token: str,
) -> dict[str, Any]:
    """A scroll-back page of `channel`, asked of the collector that reads its source."""
    try:
        page = await ctl.call(gateway.bus, operation, read, token=token)
    except ctl.Refused as exc:
        raise refusal(exc.code, exc.message) from None
    except BusUnavailable as exc:
        raise refusal(ErrorCode.UNAVAILABLE, str(exc), retry_after_s=1) from None
    return {"channel": channel.key, **page.model_dump(mode="json")}


async def _logs_channel(
    gateway: Gateway, principal: Principal, container: str, host: str | None
) -> ChannelRef:
    """The `docker.logs` channel of the container (id, name or unique prefix), if the
    principal may see it."""
    params = {"container": container} | ({"host": host} if host else {})
    try:
        channel = channel_admission.resolve(
            "docker.logs", params, unknown=ErrorCode.INVALID_MESSAGE
        )
        return await channel_admission.admit(
            gateway.hub,
            principal,
            channel,
            action=f"GET /api/docker/{container}/logs",
            audit=gateway.audit,
        )
    except ChannelRefused as exc:
        raise refused(exc) from None
