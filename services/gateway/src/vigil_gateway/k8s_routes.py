"""`GET /api/k8s/clusters` and `GET /api/k8s/{cluster}/pods`: what the collectors have
announced, limited to the clusters the caller's grant allows.

(The Kubernetes sockets, `/ws/k8s/{cluster}/metrics` and
`/ws/k8s/{cluster}/{namespace}/{pod}/logs`, are seed endpoints in
`vigil_gateway.endpoints`, with their SSE and polling twins.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from vigil.access import Principal
from vigil.errors import InvalidName
from vigil.messages import ErrorCode
from vigil.names import NameKind, validate_name
from vigil_gateway import audit
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.gateway import Gateway
from vigil_gateway.http_auth import authenticated, refusal

Anyone = Annotated[Principal, Depends(authenticated)]


def k8s_router() -> APIRouter:
    router = APIRouter()

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
        if not principal.may_see_cluster(cluster):
            reason = f"{principal.name} has no grant for cluster {cluster!r}"
            audit.denied(principal, f"GET /api/k8s/{cluster}/pods", reason, None)
            raise refusal(ErrorCode.FORBIDDEN, reason)
        try:
            await gateway.clusters.check(cluster, namespace)
            statuses = await gateway.clusters.pods(cluster)
        except ChannelRefused as exc:
            raise refusal(exc.code, exc.reason) from None
        return {
            "cluster": cluster,
            "pods": [
                status.model_dump(mode="json")
                for status in statuses
                if namespace is None or status.namespace == namespace
            ],
        }

    return router


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    if not gateway.bus.is_connected:
        raise refusal(ErrorCode.UNAVAILABLE, "the bus is unavailable")
    return gateway
