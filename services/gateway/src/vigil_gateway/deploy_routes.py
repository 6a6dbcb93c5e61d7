"""`/api/deploys` and `/ws/deploy/{deploy_id}/status`: deploys over HTTP and WebSocket.

Operators start and cancel deploys; anyone with credentials reads them. Each HTTP route
is one `ctl.call` to the deployer, except the journal page (`.../events`), which reads
the deploy's events straight from JetStream for clients that poll, or as Server-Sent
Events (`.../events/stream`) for those that cannot open a WebSocket. The WebSocket
endpoint is the `deploy` channel on a socket of its own: the whole journal, then live.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import nats.errors
import nats.js.errors
from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from vigil import ctl
from vigil.access import Principal, Role
from vigil.channels import resolve_channel
from vigil.errors import BusUnavailable, InvalidName
from vigil.messages import (
    CancelDeploy,
    CreateDeploy,
    DeployEvent,
    DeployHosts,
    DeployList,
    DeployRecord,
    DeploySpec,
    DeployState,
    DeployStep,
    ErrorCode,
    GetDeploy,
    ListDeployHosts,
    ListDeploys,
    Requester,
)
from vigil.operations import Deploy, Operation, Rep, Req
from vigil.streams import DEPLOY_EVENTS
from vigil_gateway.gateway import Gateway
from vigil_gateway.http_auth import refusal, require

Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Reader = Annotated[Principal, Depends(require(Role.VIEWER))]

_PAGE_MAX = 500
_SSE_POLL_S = 0.25
_SSE_KEEPALIVE_S = 15.0


def deploy_router() -> APIRouter:
    router = APIRouter()

    @router.post("/api/deploys", status_code=status.HTTP_202_ACCEPTED)
    async def create(spec: DeploySpec, operator: Operator, request: Request) -> DeployRecord:
        """Start a deploy; it runs on (and is journaled by) a deployer of its host."""
        requester = Requester(
            kind=operator.kind, id=operator.id, name=operator.name, token=operator.token
        )
        return await _call(request, Deploy.CREATE, CreateDeploy(spec=spec, requested_by=requester))

    @router.get("/api/deploys")
    async def list_deploys(
        reader: Reader,
        request: Request,
        state: DeployState | None = None,
        name: str | None = None,
        host: str | None = None,
        limit: Annotated[int, Query(ge=1, le=_PAGE_MAX)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> DeployList:
        """Deploys, newest first, filtered by state, service name and host; in pages."""
        filters = {"state": state, "name": name, "host": host, "limit": limit, "offset": offset}
        return await _call(request, Deploy.LIST, _parse(ListDeploys, filters))

    @router.get("/api/deploys/hosts")
    async def hosts(reader: Reader, request: Request) -> DeployHosts:
        """The Docker hosts deployers serve (a spec without `host` goes to the only one)."""
        return await _call(request, Deploy.HOSTS, ListDeployHosts())

    @router.get("/api/deploys/{deploy_id}")
    async def get(deploy_id: str, reader: Reader, request: Request) -> DeployRecord:
        return await _call(request, Deploy.GET, _parse(GetDeploy, {"deploy_id": deploy_id}))

    @router.post("/api/deploys/{deploy_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
    async def cancel(deploy_id: str, operator: Operator, request: Request) -> DeployRecord:
        """Ask the deploy to stop and roll back; it ends `cancelled` (see its journal)."""
        message = _parse(CancelDeploy, {"deploy_id": deploy_id, "actor": operator.name})
        return await _call(request, Deploy.CANCEL, message)

    @router.get("/api/deploys/{deploy_id}/events")
    async def events(
        deploy_id: str,
        reader: Reader,
        request: Request,
        since: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=_PAGE_MAX)] = 100,
    ) -> dict[str, Any]:
        """The journal after cursor `since`, for clients that poll: `events` (each with
        its `cursor`) and `next`, the `since` of the next call."""
        await _call(request, Deploy.GET, _parse(GetDeploy, {"deploy_id": deploy_id}))
        return await _journal_page(_gateway(request), deploy_id, since, limit)

    @router.get("/api/deploys/{deploy_id}/events/stream")
    async def event_stream(
        deploy_id: str,
        reader: Reader,
        request: Request,
        since: Annotated[int, Query(ge=0)] = 0,
    ) -> StreamingResponse:
        """Server-Sent Events for clients without WebSocket: the journal after `since`
        (or the `Last-Event-ID` a reconnecting EventSource sends), then live, until the
        deploy ends. Each event's `id` is its cursor."""
        await _call(request, Deploy.GET, _parse(GetDeploy, {"deploy_id": deploy_id}))
        last_seen = request.headers.get("last-event-id", "")
        start = int(last_seen) if last_seen.isdigit() else since
        return StreamingResponse(
            _server_sent(_gateway(request), request, deploy_id, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.websocket("/ws/deploy/{deploy_id}/status")
    async def deploy_status(websocket: WebSocket, deploy_id: str) -> None:
        """Seed 000's deploy progress: the journal from the start (or after `?since=`)."""
        gateway: Gateway = websocket.app.state.gateway
        since_text = websocket.query_params.get("since")
        try:
            channel = resolve_channel("deploy", {"id": deploy_id})
            since = int(since_text) if since_text is not None else None
        except (InvalidName, ValueError) as exc:
            await websocket.accept()
            await websocket.close(1008, str(exc)[:120])
            return
        await gateway.serve(websocket, system=False, channel=channel, since=since)

    return router


async def _server_sent(
    gateway: Gateway, request: Request, deploy_id: str, since: int
) -> AsyncIterator[str]:
    """Read the journal page by page (so a slow client only slows its own reads, and
    nothing is dropped), waiting a little when it has caught up."""
    cursor, idle = since, 0.0
    while not await request.is_disconnected():
        try:
            page = await _journal_page(gateway, deploy_id, cursor, _PAGE_MAX)
        except HTTPException:  # the bus is away: the client reconnects with Last-Event-ID
            return
        for event in page["events"]:
            data = json.dumps(event["data"], separators=(",", ":"))
            yield f"id: {event['cursor']}\nevent: deploy\ndata: {data}\n\n"
            if event["data"]["step"] == DeployStep.DONE:
                return
        cursor = page["next"]
        if page["events"]:
            idle = 0.0
            continue
        await asyncio.sleep(_SSE_POLL_S)
        idle += _SSE_POLL_S
        if idle >= _SSE_KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"


async def _journal_page(gateway: Gateway, deploy_id: str, since: int, limit: int) -> dict[str, Any]:
    bus = gateway.bus
    stream = bus.subjects.stream_name(DEPLOY_EVENTS.base_name)
    subject = bus.subjects.deploy_events(deploy_id)
    page: list[dict[str, Any]] = []
    cursor = since
    try:
        while len(page) < limit:
            try:
                raw = await bus.js.get_msg(stream, seq=cursor + 1, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                break
            cursor = int(raw.seq or cursor + 1)
            event = DeployEvent.model_validate_json(raw.data or b"{}")
            page.append({"cursor": cursor, "data": event.model_dump(mode="json")})
    except (nats.errors.Error, TimeoutError, RuntimeError):
        raise refusal(ErrorCode.UNAVAILABLE, "the journal cannot be read now") from None
    return {"events": page, "next": cursor}


def _parse(model: type[Req], values: dict[str, Any]) -> Req:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise refusal(ErrorCode.INVALID_MESSAGE, f"{where}: {error['msg']}") from None


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _call(request: Request, operation: Operation[Req, Rep], message: Req) -> Rep:
    try:
        return await ctl.call(_gateway(request).bus, operation, message)
    except ctl.Refused as exc:
        raise refusal(exc.code, exc.message, exc.retry_after_s) from None
    except (BusUnavailable, RuntimeError):
        raise refusal(ErrorCode.UNAVAILABLE, "the deployer is unavailable") from None
