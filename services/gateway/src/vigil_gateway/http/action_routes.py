"""Actions over HTTP: on a Docker container, on a selection of them, on a Kubernetes
workload. Operators only; each is one `ctl.call` to the deployer replica serving the
container's host (or the workload's cluster), with the caller's token: the deployer
checks the role and the grant again itself, asks first when the action destroys
(kill, remove, delete a pod: the question comes on the caller's socket), and records
each in the audit trail.

A host (or cluster) that no deployer serves is NOT_FOUND. A container whose host, or a
workload whose cluster, the caller's grants do not cover is refused here already
(FORBIDDEN, audited), as a deploy is.
"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from vigil import ctl
from vigil.access import Principal, Role
from vigil.errors import BusUnavailable, NoResponder
from vigil.messages import (
    BulkContainerActed,
    BulkContainerAction,
    ContainerActed,
    ContainerActionAsked,
    ContainerActionResult,
    CtlFailure,
    ErrorCode,
    WorkloadActed,
    WorkloadActionAsked,
    WorkloadKind,
)
from vigil.operations import Actions
from vigil_gateway.http.http_auth import BusToken, RoleRequired, check_cluster_grant
from vigil_gateway.http.service_calls import call_service, from_path
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.replica.gateway import Gateway

Operator = Annotated[Principal, Depends(RoleRequired(Role.OPERATOR))]


def action_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/api/docker/{host}/containers/{container}/actions")
    async def container_action(
        host: str,
        container: str,
        asked: ContainerActionAsked,
        operator: Operator,
        token: BusToken,
        request: Request,
    ) -> ContainerActed:
        """Start, stop, restart, kill (`signal`), pause, unpause or remove (`volumes`,
        `force`) a container of `host` (its name, or 12+ characters of its id); kill and remove
        are asked first on the caller's socket (`declined`: nothing done)."""
        check_cluster_grant(request, operator, host, f"container.{asked.action}", "host")
        values = asked.model_dump(exclude_none=True) | {"host": host, "container": container}
        message = from_path(Actions.CONTAINER.request, values)
        return await call_service(request, Actions.CONTAINER, message, token)

    @router.post("/api/docker/actions")
    async def bulk_container_action(
        bulk: BulkContainerAction, operator: Operator, token: BusToken, request: Request
    ) -> BulkContainerActed:
        """One action on each of a selection of containers, side by side: a result per
        container, in the order asked (`ok` false: `error` says why). Options that do not
        fit the action are a 422 for the whole selection."""
        gateway: Gateway = request.app.state.gateway
        options = bulk.model_dump(exclude_none=True, exclude={"containers"})
        first = bulk.containers[0]  # the options fit the action or not, for every container
        from_path(Actions.CONTAINER.request, options | first.model_dump())

        async def one(host: str, container: str) -> ContainerActionResult:
            result = ContainerActionResult(host=host, container=container, ok=False)
            try:
                check_cluster_grant(request, operator, host, f"container.{bulk.action}", "host")
            except HTTPException as exc:
                failure = CtlFailure(code=ErrorCode.FORBIDDEN, message=str(exc.detail))
                return result.model_copy(update={"error": failure})
            try:
                message = Actions.CONTAINER.request.model_validate(
                    options | {"host": host, "container": container}
                )  # as the first one, checked above
                acted = await ctl.call(gateway.bus, Actions.CONTAINER, message, token=token)
            except ctl.Refused as exc:
                failure = CtlFailure(code=exc.code, message=exc.message)
                return result.model_copy(update={"error": failure})
            except NoResponder:
                failure = CtlFailure(
                    code=ErrorCode.NOT_FOUND, message=f"the deployer of {host!r} is not running"
                )
                return result.model_copy(update={"error": failure})
            except BusUnavailable:
                failure = CtlFailure(
                    code=ErrorCode.UNAVAILABLE, message=f"the deployer of {host!r} did not answer"
                )
                return result.model_copy(update={"error": failure})
            return result.model_copy(update={"ok": True, "acted": acted})

        results = await asyncio.gather(*(one(c.host, c.container) for c in bulk.containers))
        return BulkContainerActed(results=list(results))

    @router.post("/api/k8s/{cluster}/{namespace}/{kind}/{name}/actions")
    async def workload_action(
        cluster: str,
        namespace: str,
        kind: WorkloadKind,
        name: str,
        asked: WorkloadActionAsked,
        operator: Operator,
        token: BusToken,
        request: Request,
    ) -> WorkloadActed:
        """Delete a pod (asked first), restart a deployment's or statefulset's rollout,
        or scale one to `replicas`."""
        check_cluster_grant(request, operator, cluster, f"k8s.{asked.action}")
        values = asked.model_dump(exclude_none=True) | {
            "cluster": cluster,
            "namespace": namespace,
            "kind": kind,
            "name": name,
        }
        message = from_path(Actions.WORKLOAD.request, values)
        return await call_service(request, Actions.WORKLOAD, message, token)

    return router
