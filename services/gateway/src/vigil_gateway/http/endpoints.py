"""Every streaming endpoint, reachable three ways with one set of semantics.

A seed endpoint streams one channel at a WebSocket path; its SSE twin is the rest of
that path under `/sse/`, its polling twin under `/api/poll/` (`/api/system/ws` →
`/sse/system` and `/api/poll/system`). Every channel of `/ws` is reachable the same
way by name: `/sse/channels/{name}` and `/api/poll/channels/{name}`, its parameters
in the query (`?host=web1`). Credentials are read as everywhere else (`?token=`,
`Authorization`, `?api_key=`, `X-API-Key`).
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import nats.errors
from fastapi import Depends, FastAPI, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse

from vigil.access import Principal
from vigil.channels import ChannelRef, resolve_channel
from vigil.errors import InvalidName, UnknownChannel
from vigil.messages import ErrorCode
from vigil_gateway.delivery import channel_admission, polling
from vigil_gateway.delivery.poll_slots import SlotResponse
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.http import queries, sse
from vigil_gateway.http.http_auth import authenticated, refusal, refused
from vigil_gateway.merged import polling as merged_polling
from vigil_gateway.replica.gateway import Gateway

Limit = Annotated[int, Query(ge=1, le=polling.MAX_LIMIT, description="messages at most")]
Caller = Annotated[Principal, Depends(authenticated)]


@dataclass(frozen=True)
class Endpoint:
    """A seed endpoint: its WebSocket path, the rest of the path its twins share, and
    the channel it streams given the path and query parameters."""

    websocket: str
    twin: str
    channel: Callable[[Mapping[str, str], Mapping[str, str]], ChannelRef]


ENDPOINTS = (
    Endpoint(
        websocket="/api/system/ws",
        twin="system",
        channel=lambda path, query: resolve_channel("system", queries.channel_params(query)),
    ),
    Endpoint(  # seed 000's container stats, one docker_stats per host batch
        websocket="/ws/docker/stats",
        twin="docker/stats",
        channel=lambda path, query: resolve_channel("docker_stats", queries.channel_params(query)),
    ),
    Endpoint(  # seed 000's logs: the container by id, name, or a unique prefix of either
        websocket="/ws/docker/{container_id}/logs",
        twin="docker/{container_id}/logs",
        channel=lambda path, query: resolve_channel(
            "docker.logs", {**queries.channel_params(query), "container": path["container_id"]}
        ),
    ),
    Endpoint(  # seed 000's cluster metrics: pods (of `?namespace=`) and nodes
        websocket="/ws/k8s/{cluster}/metrics",
        twin="k8s/{cluster}/metrics",
        channel=lambda path, query: resolve_channel(
            "k8s.metrics", {**queries.channel_params(query), "cluster": path["cluster"]}
        ),
    ),
    Endpoint(  # seed 000's pod logs: `?container=` (default the first)
        websocket="/ws/k8s/{cluster}/{namespace}/{pod}/logs",
        twin="k8s/{cluster}/{namespace}/{pod}/logs",
        channel=lambda path, query: resolve_channel(
            "k8s.logs",
            {
                **queries.channel_params(query),
                "cluster": path["cluster"],
                "namespace": path["namespace"],
                "pod": path["pod"],
            },
        ),
    ),
    Endpoint(  # seed 000's deploy progress: the whole journal, then live
        websocket="/ws/deploy/{deploy_id}/status",
        twin="deploy/{deploy_id}/status",
        channel=lambda path, query: resolve_channel("deploy", {"id": path["deploy_id"]}),
    ),
)


def channel_of(endpoint: Endpoint, request: Request) -> ChannelRef:
    """The endpoint's channel, or a refusal naming what was wrong."""
    try:
        return endpoint.channel(request.path_params, request.query_params)
    except (UnknownChannel, InvalidName) as exc:
        raise refused(channel_admission.name_refused(exc)) from None


BY_NAME = Endpoint(
    websocket="/ws",
    twin="channels/{name}",
    channel=lambda path, query: resolve_channel(path["name"], queries.channel_params(query)),
)


async def poll(
    request: Request, gateway: Gateway, principal: Principal, channel: ChannelRef, limit: int
) -> Response:
    action, audit = "poll", gateway.audit
    try:  # the grant before anything else: a refusal tells nothing of what exists
        channel_admission.check(principal, channel, action=action, audit=audit)
    except ChannelRefused as exc:
        raise refused(exc) from None
    try:
        since = queries.resume_point(request, channel)
    except ValueError as exc:
        raise refusal(ErrorCode.INVALID_MESSAGE, str(exc)) from None
    if not gateway.bus.is_connected:
        raise refusal(ErrorCode.UNAVAILABLE, "the message bus is unavailable", retry_after_s=1)
    try:  # a container's name prefix made its id; an unknown deploy refused...
        channel = await channel_admission.admit(
            gateway.hub, principal, channel, action=action, audit=audit
        )
    except ChannelRefused as exc:
        raise refused(exc) from None
    try:
        give_back = gateway.poll_slots.take(principal)  # until its answer is sent
    except ChannelRefused as exc:
        raise refused(exc, retry_after_s=1) from None
    try:
        with gateway.filter_quota.holding(principal, channel):  # a filter's work per line
            page = await _read(gateway, principal, channel, since, limit)
        body, tag = page.encoded(channel)
    except ChannelRefused as exc:
        give_back()
        raise refused(exc) from None
    except (nats.errors.Error, TimeoutError) as exc:
        give_back()
        raise refusal(ErrorCode.UNAVAILABLE, f"could not read {channel.key}: {exc}") from None
    except BaseException:
        give_back()
        raise
    if request.headers.get("if-none-match") == tag:
        return SlotResponse(status_code=304, headers={"ETag": tag}, give_back=give_back)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    return SlotResponse(body, media_type="application/json", headers=headers, give_back=give_back)


async def _read(
    gateway: Gateway, principal: Principal, channel: ChannelRef, since: int | None, limit: int
) -> polling.Page:
    if channel.spec.selects:  # a merged view: its sources read now
        sources = await gateway.merged_sources(channel, principal.may_see_cluster)
        for source in sources:
            gateway.hub.polled(source.lease)
        settings = gateway.settings
        return await merged_polling.read(
            gateway.bus,
            channel,
            sources,
            since,
            limit,
            settings.merge_window_s,
            settings.max_poll_bytes,
        )
    gateway.hub.polled(channel)  # e.g. logs: followed for a while, for the next poll
    return await polling.read(
        gateway.bus,
        channel,
        since,
        limit,
        principal.may_see_cluster,
        gateway.stale_after,
        gateway.settings.max_poll_bytes,
    )


def register(app: FastAPI, gateway: Gateway) -> None:
    """The routes of `/ws`, the seed endpoints, and all their SSE and polling twins."""

    @app.websocket("/ws")
    async def multiplexed(websocket: WebSocket) -> None:
        await gateway.sessions.serve(websocket)

    _register_twins(app, gateway, BY_NAME, "a channel of /ws, by name,")
    for endpoint in ENDPOINTS:
        _register_websocket(app, gateway, endpoint)
        _register_twins(app, gateway, endpoint, endpoint.websocket)


def _register_websocket(app: FastAPI, gateway: Gateway, endpoint: Endpoint) -> None:
    async def websocket_route(websocket: WebSocket) -> None:
        query = websocket.query_params
        try:
            channel = endpoint.channel(websocket.path_params, query)
            options = queries.options(query, queries.cursor(query))
        except (UnknownChannel, InvalidName, ValueError) as exc:
            await websocket.close(1008, str(exc)[:120])
            return
        if misfit := options.misfit(channel):
            await websocket.close(1008, misfit[:120])
            return
        await gateway.sessions.serve(websocket, channel, options)

    app.add_api_websocket_route(endpoint.websocket, websocket_route)


def _register_twins(app: FastAPI, gateway: Gateway, endpoint: Endpoint, what: str) -> None:
    async def sse_route(request: Request) -> StreamingResponse:
        channel = channel_of(endpoint, request)
        try:
            options = queries.options(request.query_params, queries.resume_point(request, channel))
        except ValueError as exc:
            raise refusal(ErrorCode.INVALID_MESSAGE, str(exc)) from None
        if misfit := options.misfit(channel):
            raise refusal(ErrorCode.INVALID_MESSAGE, misfit)
        return await sse.stream(request, gateway, channel, options)

    async def poll_route(request: Request, caller: Caller, limit: Limit = 100) -> Any:
        return await poll(request, gateway, caller, channel_of(endpoint, request), limit)

    # The routes read their path through the request: the spec is told of it here.
    path = {
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", endpoint.twin)
        ]
    }
    app.add_api_route(
        f"/sse/{endpoint.twin}",
        sse_route,
        response_class=StreamingResponse,
        tags=["streams"],
        summary=f"{what} as Server-Sent Events",
        openapi_extra=path,
    )
    app.add_api_route(
        f"/api/poll/{endpoint.twin}",
        poll_route,
        tags=["streams"],
        summary=f"{what} by HTTP polling: a snapshot (state) or a page after `since`",
        openapi_extra=path,
    )
