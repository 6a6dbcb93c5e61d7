"""`GET /api/k8s/clusters` and `GET /api/k8s/{cluster}/pods`: what the collectors have
announced, limited to the clusters the caller's grant allows; and
`GET /api/k8s/{cluster}/{namespace}/{pod}/logs`: scroll-back pages of a pod's logs.

(The Kubernetes sockets, `/ws/k8s/{cluster}/metrics` and
`/ws/k8s/{cluster}/{namespace}/{pod}/logs`, are seed endpoints in
`vigil_gateway.http.endpoints`, with their SSE and polling twins.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from vigil.access import Principal
from vigil.errors import InvalidName
from vigil.messages import ErrorCode, ReadPodLogs
from vigil.names import NameKind, validate_name
from vigil.operations import Logs
from vigil_gateway.delivery import channel_admission
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.http.docker_routes import log_page_of
from vigil_gateway.http.http_auth import (
    BusToken,
    authenticated,
    check_cluster_grant,
    refusal,
    refused,
)
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.replica.gateway import Gateway

Anyone = Annotated[Principal, Depends(authenticated)]


def k8s_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.get("/api/k8s/clusters")
    async def clusters(request: Request, principal: Anyone) -> dict[str, Any]:
        """The clusters collectors follow that the caller may see, each with whether its
        metrics are available."""
        gateway = _gateway(request)
        listed = []
        for name in await gateway.clusters.clusters():
            if not principal.may_see_cluster(name):
                continue
            batch = gateway.clusters.metrics(name)
            listed.append(
                {
                    "cluster": name,
                    "metrics_available": batch is not None and batch.metrics_available,
                    "reason": batch.reason if batch is not None else "no metrics yet",
                    "time": batch.time.isoformat() if batch is not None else None,
                }
            )
        return {"clusters": listed}

    @router.get("/api/k8s/{cluster}/pods")
    async def pods(
        request: Request,
        principal: Anyone,
        cluster: str,
        namespace: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        """The last status of every pod of `cluster` (or of its `namespace`)."""
        gateway = _gateway(request)
        try:
            validate_name(NameKind.CLUSTER, cluster)
            if namespace is not None:
                validate_name(NameKind.NAMESPACE, namespace)
        except InvalidName as exc:
            raise refusal(ErrorCode.INVALID_MESSAGE, str(exc)) from None
        check_cluster_grant(request, principal, cluster)
        try:
            await gateway.clusters.check(cluster, namespace)
            statuses = await gateway.clusters.pods(cluster)
        except ChannelRefused as exc:
            raise refused(exc) from None
        return {
            "cluster": cluster,
            "pods": [
                status.model_dump(mode="json")
                for status in statuses
                if namespace is None or status.namespace == namespace
            ],
        }

    @router.get("/api/k8s/{cluster}/{namespace}/{pod}/logs")
    async def log_page(
        request: Request,
        principal: Anyone,
        token: BusToken,
        cluster: str,
        namespace: str,
        pod: str,
        container: Annotated[str | None, Query()] = None,
        before: Annotated[datetime | None, Query(description="oldest line's time held")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Scroll-back, seed 002's `before`/`limit` pages of a pod's container (default:
        the first): up to `limit` lines from before `before` (the newest without), read
        from the API, oldest first, and the `next_before` of the page before them."""
        gateway = _gateway(request)
        if before is not None and before.tzinfo is None:
            raise refusal(ErrorCode.INVALID_MESSAGE, "before needs a time zone, e.g. ...Z")
        params = {"cluster": cluster, "namespace": namespace, "pod": pod}
        named = params | ({"container": container} if container else {})
        try:
            channel = channel_admission.resolve(
                "k8s.logs", named, unknown=ErrorCode.INVALID_MESSAGE
            )
            channel = await channel_admission.admit(
                gateway.hub,
                principal,
                channel,
                action=f"GET /api/k8s/{cluster}/.../logs",
                audit=gateway.audit,
            )
        except ChannelRefused as exc:
            raise refused(exc) from None
        read = ReadPodLogs(**params, container=container, before=before, limit=limit)
        return await log_page_of(gateway, Logs.K8S_PAGE, read, channel, token)

    return router


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    if not gateway.bus.is_connected:
        raise refusal(ErrorCode.UNAVAILABLE, "the bus is unavailable")
    return gateway
