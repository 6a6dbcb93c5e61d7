"""`/api/alerts`: the alert book (viewers), acknowledgements, confirmations of proposed
actions, silences and maintenance windows (operators). Each route is one `ctl.call` to
the alerter with the caller's token; the alerter checks the role again itself and keeps
the audit trail."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from vigil.access import Principal, Role
from vigil.messages import (
    AcknowledgeAlert,
    AlertChanged,
    AlertList,
    ConfirmProposal,
    CreateSilence,
    DeleteSilence,
    ListAlerts,
    ListSilences,
    ProposalConfirmed,
    Silence,
    SilenceDraft,
    SilenceList,
)
from vigil.operations import Alerts
from vigil_gateway.http.http_auth import BusToken, RoleRequired
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute

Viewer = Annotated[Principal, Depends(RoleRequired(Role.VIEWER))]
Operator = Annotated[Principal, Depends(RoleRequired(Role.OPERATOR))]


def alert_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.get("/api/alerts")
    async def list_alerts(
        viewer: Viewer,
        token: BusToken,
        request: Request,
        active: bool = True,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> AlertList:
        """Every alert's latest transition and acknowledgement, newest first (`active`:
        only those raised and not resolved)."""
        message = ListAlerts(active=active, limit=limit)
        return await call_service(request, Alerts.LIST, message, token)

    @router.post("/api/alerts/ack")
    async def acknowledge(
        ack: AcknowledgeAlert, operator: Operator, token: BusToken, request: Request
    ) -> AlertChanged:
        """Acknowledge a raised alert, with a note: the transition, as published."""
        return await call_service(request, Alerts.ACK, ack, token)

    @router.post("/api/alerts/proposal")
    async def confirm_proposal(
        confirm: ConfirmProposal, operator: Operator, token: BusToken, request: Request
    ) -> ProposalConfirmed:
        """Carry out what a raised alert proposes (restart its container, scale its pod's
        workload): the deployer asks the caller first on their socket, then acts, once
        (`done`: the transition as published; `declined`: nothing done). A proposal that
        ran already, or of a resolved alert, is 409."""
        return await call_service(request, Alerts.CONFIRM, confirm, token)

    @router.post("/api/alerts/silences", status_code=status.HTTP_201_CREATED)
    async def silence(
        silence: SilenceDraft, operator: Operator, token: BusToken, request: Request
    ) -> Silence:
        """A silence (or, with `maintenance`, a maintenance window): the alerts it matches
        are not notified between `starts` and `ends`."""
        return await call_service(request, Alerts.SILENCE, CreateSilence(silence=silence), token)

    @router.get("/api/alerts/silences")
    async def silences(viewer: Viewer, token: BusToken, request: Request) -> SilenceList:
        """The silences and maintenance windows not yet over."""
        return await call_service(request, Alerts.SILENCES, ListSilences(), token)

    @router.delete("/api/alerts/silences/{silence_id}")
    async def unsilence(
        silence_id: str, operator: Operator, token: BusToken, request: Request
    ) -> Silence:
        message = from_path(DeleteSilence, {"silence_id": silence_id})
        return await call_service(request, Alerts.UNSILENCE, message, token)

    return router
