"""`/api/deploys`: deploys over HTTP.

Operators start and cancel deploys; anyone with credentials reads them. Each route is
one `ctl.call` to the deployer, with the caller's token: the deployer checks the role
and the grant again itself. A deploy's journal is the `deploy` channel, streamed
at `/ws/deploy/{deploy_id}/status` and its SSE and polling twins (`endpoints`).

A Kubernetes deploy is its cluster's: the deployer refuses a caller whose grant does
not cover the cluster `FORBIDDEN` (reading or cancelling it) and leaves it out of their
list; it answers with secrets hidden (`DeployRecord.view`).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from vigil.access import Principal, Role
from vigil.messages import (
    CancelDeploy,
    CreateDeploy,
    DeployHosts,
    DeployList,
    DeployRecord,
    DeploySpec,
    DeployState,
    GetDeploy,
    ListDeployHosts,
    ListDeploys,
)
from vigil.operations import Deploy
from vigil_gateway.http.http_auth import BusToken, RoleRequired, check_cluster_grant
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute

Operator = Annotated[Principal, Depends(RoleRequired(Role.OPERATOR))]
Reader = Annotated[Principal, Depends(RoleRequired(Role.VIEWER))]

_PAGE_MAX = 500


def deploy_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/api/deploys", status_code=status.HTTP_202_ACCEPTED)
    async def create(
        spec: DeploySpec, operator: Operator, token: BusToken, request: Request
    ) -> DeployRecord:
        """Start a deploy; it runs on (and is journaled by) a deployer of its host (or,
        for a Kubernetes deploy, of its cluster), which the caller's grant must cover."""
        if spec.cluster is not None:
            check_cluster_grant(request, operator, spec.cluster)
        elif spec.host is not None:  # no host: the only one, which the deployer checks
            check_cluster_grant(request, operator, spec.host, kind="host")
        return await call_service(request, Deploy.CREATE, CreateDeploy(spec=spec), token)

    @router.get("/api/deploys")
    async def list_deploys(
        reader: Reader,
        token: BusToken,
        request: Request,
        state: DeployState | None = None,
        name: str | None = None,
        host: str | None = None,
        limit: Annotated[int, Query(ge=1, le=_PAGE_MAX)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> DeployList:
        """Deploys, newest first, filtered by state, service name and host; in pages."""
        filters = {"state": state, "name": name, "host": host, "limit": limit, "offset": offset}
        return await call_service(request, Deploy.LIST, from_path(ListDeploys, filters), token)

    @router.get("/api/deploys/hosts")
    async def hosts(reader: Reader, token: BusToken, request: Request) -> DeployHosts:
        """The Docker hosts deployers serve (a spec without `host` goes to the only one)."""
        return await call_service(request, Deploy.HOSTS, ListDeployHosts(), token)

    @router.get("/api/deploys/{deploy_id}")
    async def get(
        deploy_id: str, reader: Reader, token: BusToken, request: Request
    ) -> DeployRecord:
        message = from_path(GetDeploy, {"deploy_id": deploy_id})
        return await call_service(request, Deploy.GET, message, token)

    @router.post("/api/deploys/{deploy_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
    async def cancel(
        deploy_id: str, operator: Operator, token: BusToken, request: Request
    ) -> DeployRecord:
        """Ask the deploy to stop and roll back; it ends `cancelled` (see its journal)."""
        message = from_path(CancelDeploy, {"deploy_id": deploy_id})
        return await call_service(request, Deploy.CANCEL, message, token)

    return router
