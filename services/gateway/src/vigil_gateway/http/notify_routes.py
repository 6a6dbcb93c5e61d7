"""`/api/notify`: notification channels and their dead letters, for admins only.

Each route is one `ctl.call` to the notifier with the caller's token: the notifier
checks the role again itself, checks the channel (a URL Apprise knows, an http(s)
webhook, a template that parses: refused 422 naming what is wrong) and answers with its
secrets masked.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from vigil.access import Principal, Role
from vigil.messages import (
    ChannelDraft,
    ChannelList,
    ChannelTried,
    ChannelView,
    CreateChannel,
    DeadLetterList,
    DeleteChannel,
    ListChannels,
    ListDeadLetters,
    TryChannel,
)
from vigil.operations import Notify
from vigil_gateway.http.http_auth import BusToken, RoleRequired
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute

Admin = Annotated[Principal, Depends(RoleRequired(Role.ADMIN))]


def notify_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/api/notify/channels", status_code=status.HTTP_201_CREATED)
    async def create(
        channel: ChannelDraft, admin: Admin, token: BusToken, request: Request
    ) -> ChannelView:
        """A new channel: an Apprise URL or a signed webhook, with its filter."""
        return await call_service(request, Notify.CREATE, CreateChannel(channel=channel), token)

    @router.get("/api/notify/channels")
    async def list_channels(admin: Admin, token: BusToken, request: Request) -> ChannelList:
        """Every channel, its URL masked and its secret left out."""
        return await call_service(request, Notify.LIST, ListChannels(), token)

    @router.delete("/api/notify/channels/{channel_id}")
    async def delete(
        channel_id: str, admin: Admin, token: BusToken, request: Request
    ) -> ChannelView:
        message = from_path(DeleteChannel, {"channel_id": channel_id})
        return await call_service(request, Notify.DELETE, message, token)

    @router.post("/api/notify/channels/{channel_id}/test")
    async def try_channel(
        channel_id: str, admin: Admin, token: BusToken, request: Request
    ) -> ChannelTried:
        """Send a test notification now; says whether it went out, or why not."""
        message = from_path(TryChannel, {"channel_id": channel_id})
        return await call_service(request, Notify.TRY, message, token)

    @router.get("/api/notify/dead-letters")
    async def dead_letters(
        admin: Admin,
        token: BusToken,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> DeadLetterList:
        """Transitions a channel never took after every attempt, newest first."""
        return await call_service(request, Notify.DEAD_LETTERS, ListDeadLetters(limit=limit), token)

    return router
